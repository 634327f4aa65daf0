"""A run stopped by SIGTERM raises preemption.Preempted (exit code 0) after its checkpoint, so
whatever chains runs in one process (the shoot-out, a fine-tuning sweep) stops there instead of
going on from a half-trained model, and records nothing as finished."""
import contextlib
import os

import pytest

from mlm_jax import preemption, train
from mlm_jax.finetune import runner
from tests.conftest import corpus_config, glue_smoke_finetune
from tools import shootout

# Three end-to-end chains (train, fine-tune, shoot-out): they run in the full suite.
pytestmark = pytest.mark.slow


def _sigterm_at(monkeypatch, at_step: int):
  """Every later preemption.guard() reports a SIGTERM once AT_STEP is reached."""
  class _Signalled:
    def reached(self, step):
      return step >= at_step

  @contextlib.contextmanager
  def guard():
    yield _Signalled()
  monkeypatch.setattr(preemption, 'guard', guard)


def _config(shared_vocab):
  c = corpus_config(shared_vocab)
  c.train.update(steps=6, batch_size=16, log_every_steps=1, warmup_steps=1)
  c.eval.update(every_steps=0, steps=1)
  c.checkpoint.every_steps = 100
  return c


def test_a_preempted_pre_training_raises_after_its_checkpoint(shared_vocab, tmp_path,
                                                              monkeypatch):
  _sigterm_at(monkeypatch, 2)
  workdir = str(tmp_path / 'run')
  with pytest.raises(preemption.Preempted) as e:
    train.run(_config(shared_vocab), workdir)
  assert e.value.code == 0 and e.value.step == 2
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', 'data_state']


def test_the_shootout_records_nothing_for_a_preempted_run_then_resumes(shared_vocab, tmp_path,
                                                                       monkeypatch):
  workdir = str(tmp_path / 'mlm')
  config = _config(shared_vocab)
  record = os.path.join(workdir, shootout.RUN_RECORD)
  with monkeypatch.context() as m:
    _sigterm_at(m, 3)
    with pytest.raises(preemption.Preempted):
      shootout.train_or_reuse('mlm', config, workdir)
  assert not os.path.exists(record)  # a partial run is never reused as finished
  done = shootout.train_or_reuse('mlm', config, workdir)  # the same call resumes it
  assert os.path.exists(record) and 'mlm_accuracy' in done['eval']
  assert os.path.isdir(os.path.join(workdir, 'checkpoints', '6'))


def test_a_preempted_fine_tune_writes_no_result(shared_vocab, tmp_path, monkeypatch):
  pre = str(tmp_path / 'pre')
  c = _config(shared_vocab)
  c.train.steps = 1
  train.run(c, pre)
  _sigterm_at(monkeypatch, 1)
  out = str(tmp_path / 'ft')
  with pytest.raises(preemption.Preempted):
    glue_smoke_finetune(pre, out)
  assert not os.path.exists(os.path.join(out, runner.RESULT))
  assert os.path.isdir(os.path.join(out, 'checkpoints', '1'))
