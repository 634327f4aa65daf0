"""End-to-end runs on 8 fake CPU devices: loss falls, and a resumed run continues exactly."""
import os

import pytest

from mlm_jax import train
from tests.conftest import corpus_config as _config, read_records as _records




def test_twenty_steps_on_eight_devices_loss_falls(shared_vocab, tmp_path):
  workdir = str(tmp_path / 'run')
  final = train.run(_config(shared_vocab, **{'mesh.data': 8}), workdir)
  train_records = _records(workdir, 'train')
  assert [r['step'] for r in train_records] == [5, 10, 15, 20]
  for key in ('loss', 'mlm_accuracy', 'learning_rate', 'grad_norm', 'tokens_per_sec', 'mfu'):
    assert key in train_records[0]
  assert train_records[-1]['loss'] < train_records[0]['loss'] - 0.5
  evals = _records(workdir, 'eval')
  assert evals[-1]['step'] == 20 and 'baseline_mlm_accuracy' in evals[-1]
  assert final['perplexity'] > 1
  assert os.path.isdir(os.path.join(workdir, 'checkpoints', '20'))
  assert os.listdir(os.path.join(workdir, 'tensorboard'))


@pytest.mark.slow
def test_resume_continues_exactly(shared_vocab, tmp_path):
  full, cut = str(tmp_path / 'full'), str(tmp_path / 'cut')
  cfg = dict(**{'mesh.data': 4, 'mesh.fsdp': 2})
  train.run(_config(shared_vocab, **cfg), full)
  train.run(_config(shared_vocab, **cfg, **{'train.stop_at_step': 10}), cut)
  assert [r['step'] for r in _records(cut, 'train')] == [5, 10]
  # The same time-sliced command again leaves at once: nothing past step 10 is trained.
  train.run(_config(shared_vocab, **cfg, **{'train.stop_at_step': 10}), cut)
  assert [r['step'] for r in _records(cut, 'train')] == [5, 10]
  assert max(int(d) for d in os.listdir(os.path.join(cut, 'checkpoints')) if d.isdigit()) == 10
  train.run(_config(shared_vocab, **cfg), cut)  # same command again: resumes from step 10
  a, b = _records(full, 'train'), _records(cut, 'train')
  assert [r['step'] for r in b] == [5, 10, 15, 20]
  for ra, rb in zip(a, b):
    for key in ('loss', 'mlm_accuracy', 'grad_norm', 'learning_rate'):
      assert ra[key] == rb[key], (ra['step'], key, ra[key], rb[key])
  assert _records(full, 'eval')[-1]['loss'] == _records(cut, 'eval')[-1]['loss']


@pytest.mark.slow
def test_micro_batches_match_full_batch_loss_at_first_step(shared_vocab, tmp_path):
  # Gradient accumulation runs, and logs the same number of steps.
  workdir = str(tmp_path / 'accum')
  train.run(_config(shared_vocab, **{'train.micro_batches': 2, 'train.steps': 10,
                                     'mesh.data': 8, 'train.batch_size': 32}), workdir)
  records = _records(workdir, 'train')
  assert [r['step'] for r in records] == [5, 10]
  assert records[-1]['loss'] < records[0]['loss']


def test_vocabulary_larger_than_model_is_refused(shared_vocab, tmp_path):
  from mlm_jax.config_lib import ConfigError
  with pytest.raises(ConfigError, match='model.vocab_size'):
    train.run(_config(shared_vocab, **{'model.vocab_size': 256}), str(tmp_path / 'v'))
