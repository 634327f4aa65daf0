import json

import pytest

from configs import bert
from mlm_jax import metrics
from tests.conftest import tiny_config


def test_flops_formula_for_bert_base():
  c = bert.get_config('size=base')
  got = metrics.model_flops_per_token(c.model, 128, 20)
  d, f, n, v = 768, 3072, 12, 30522
  expected = 6 * n * (4 * d * d + 2 * d * f) + 12 * n * d * 128 + 6 * (d * d + d * v) * 20 / 128
  assert got == pytest.approx(expected)
  assert 5.4e8 < got < 5.5e8


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
  line = metrics.progress_line(50, 100, {'loss': 2.0, 'mlm_accuracy': 0.25, 'tokens_per_sec': 1000,
                                         'mfu': 0.4}, 10.0, 50)
  assert 'step 50/100' in line and 'ETA 0m10s' in line and '1,000 tok/s' in line
  assert metrics.measure_peak_flops(size=256, repeats=2) > 1e8


def test_token_detector_flops_count_its_small_head_at_every_token():
  c = tiny_config(**{'model.name': 'bert_token_detector'}).model
  d = c.hidden_size
  bert = metrics.model_flops_per_token(tiny_config().model, 128, 20)
  detector = metrics.model_flops_per_token(c, 128, 20)
  assert detector - bert == 6 * (d * d + d) - 6 * (d * d + d * c.vocab_size) * 20 / 128
