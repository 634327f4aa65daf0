import json


from mlm_jax import metrics


def test_reduce_divides_sums_by_counts():
  out = metrics.reduce({'loss': (6.0, 3.0), 'acc': (0.0, 0.0), 'label_counts': [1, 2, 3]})
  assert out['loss'] == 2.0 and out['acc'] != out['acc'] and 'label_counts' not in out


def test_writer_appends_jsonl_and_tensorboard(tmp_path):
  w = metrics.Writer(str(tmp_path))
  w.write(5, 'train', {'loss': 1.5, 'mfu': 0.3})
  w.write(5, 'eval', {'loss': 1.7})
  w.close()
  rows = [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')]
  assert rows == [{'step': 5, 'split': 'train', 'loss': 1.5, 'mfu': 0.3},
                  {'step': 5, 'split': 'eval', 'loss': 1.7}]
  assert list((tmp_path / 'tensorboard').iterdir())


def test_progress_line_and_peak():
  line = metrics.progress_line(50, 100, {'loss': 2.0, 'disc_accuracy': 0.25, 'tokens_per_sec': 1000,
                                         'mfu': 0.4}, 10.0, 50, 'disc_accuracy')
  assert 'step 50/100' in line and 'ETA 0m10s' in line and '1,000 tok/s' in line
  assert 'disc_accuracy 0.250' in line
  assert metrics.measure_peak_flops(size=256, repeats=2) > 1e8
