"""Preemption, kill -9, non-finite losses, damaged and mismatched checkpoints, mesh changes."""
import dataclasses
import os
import random
import shutil
import signal
import subprocess
import time

import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax import objectives, train
from mlm_jax.config_lib import ConfigError, RunError
from mlm_jax.objectives import mlm
from tests.conftest import REPO, config_flags
from tests.conftest import corpus_config as _config, read_records as _records
from tests.conftest import read_records as _jsonl, smoke_cli as _cli

pytestmark = pytest.mark.slow  # subprocess runs, kills and restarts: minutes




def _wait_for_step(workdir, step, proc, timeout=240):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if any(r['split'] == 'train' and r['step'] >= step for r in _jsonl(workdir)):
      return
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    time.sleep(0.2)
  raise TimeoutError(f'no step {step} in {workdir}')


def test_sigterm_checkpoints_and_exits_zero(shared_vocab, tmp_path):
  workdir = str(tmp_path / 'run')
  args, env = _cli(shared_vocab, workdir, '--config.train.steps=100000',
                   '--config.train.log_every_steps=1', '--config.checkpoint.every_steps=100000')
  proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
  _wait_for_step(workdir, 3, proc)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err[-2000:]
  assert 'SIGTERM' in out
  last = max(r['step'] for r in _jsonl(workdir) if r['split'] == 'train')
  saved = [int(d) for d in os.listdir(os.path.join(workdir, 'checkpoints')) if d.isdigit()]
  assert saved == [last]


def test_kill9_at_a_random_step_resumes_bit_exact(shared_vocab, tmp_path):
  settings = {'train.steps': 20, 'train.log_every_steps': 1, 'checkpoint.every_steps': 4}
  common = config_flags(settings)
  full = str(tmp_path / 'full')  # the reference, in this process: the same config and devices
  train.run(_config(shared_vocab, **settings), full)
  expected = {r['step']: r['loss'] for r in _jsonl(full) if r['split'] == 'train'}

  cut = str(tmp_path / 'cut')
  args, env = _cli(shared_vocab, cut, *common)
  kill_at = random.Random().randint(6, 16)
  proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  _wait_for_step(cut, kill_at, proc)
  proc.kill()
  proc.wait()
  subprocess.run(args, cwd=REPO, env=env, check=True, capture_output=True, timeout=300)
  got = [(r['step'], r['loss']) for r in _jsonl(cut) if r['split'] == 'train']
  assert max(s for s, _ in got) == 20 and len(got) >= 20
  for step, loss in got:
    assert loss == expected[step], (kill_at, step, loss, expected[step])


def _nan_loss(model, cfg, tokens, word_start=None):
  base = mlm.make_loss(model, cfg, tokens, word_start)

  def loss_fn(params, batch, rng, train=True):
    out = base(params, batch, rng, train)
    return out.replace(loss=out.loss * jnp.nan)
  return loss_fn


_nan_objective = dataclasses.replace(mlm.OBJECTIVE, make_loss=_nan_loss)


def test_nonfinite_updates_are_skipped_or_stop_the_run(shared_vocab, tmp_path, monkeypatch):
  monkeypatch.setitem(objectives.OBJECTIVES, 'nan_mlm', _nan_objective)
  workdir = str(tmp_path / 'skip')
  train.run(_config(shared_vocab, **{'objective.name': 'nan_mlm', 'train.steps': 10,
                                     'checkpoint.every_steps': 5}), workdir)
  records = _records(workdir, 'train')
  assert records[-1]['nonfinite_steps'] == 10
  assert sorted(int(d) for d in os.listdir(os.path.join(workdir, 'checkpoints'))
                if d.isdigit()) == [5, 10]
  with pytest.raises(RunError, match='step 1 '):
    train.run(_config(shared_vocab, **{'objective.name': 'nan_mlm', 'train.steps': 10,
                                       'train.nonfinite_policy': 'stop'}), str(tmp_path / 'stop'))
  assert not os.path.exists(os.path.join(tmp_path, 'stop', 'checkpoints', '5'))


def test_damaged_latest_checkpoint_falls_back_to_previous(shared_vocab, tmp_path, capsys):
  workdir = str(tmp_path / 'run')
  cfg = {'train.steps': 10, 'checkpoint.every_steps': 5, 'train.stop_at_step': 10}
  train.run(_config(shared_vocab, **cfg), workdir)
  for root, _, files in os.walk(os.path.join(workdir, 'checkpoints', '10')):
    for name in files:  # truncate every file of the newest checkpoint
      open(os.path.join(root, name), 'w').close()
  capsys.readouterr()
  train.run(_config(shared_vocab, **{**cfg, 'train.stop_at_step': 0, 'train.steps': 15}), workdir)
  out = capsys.readouterr().out
  assert 'damaged' in out and 'resumed from' in out and out.split('resumed from')[1].split()[0] \
      .endswith('/5')
  assert os.path.isdir(os.path.join(workdir, 'checkpoints_damaged', '10'))  # kept, not deleted
  assert _records(workdir, 'train')[-1]['step'] == 15


def test_checkpoint_of_another_shape_is_refused_naming_the_tensor(shared_vocab, tmp_path):
  workdir = str(tmp_path / 'run')
  train.run(_config(shared_vocab, **{'train.steps': 5, 'checkpoint.every_steps': 5}), workdir)
  with pytest.raises(ConfigError, match=r'params/encoder/layers_0/mlp/wi/bias has shape \(128,\)'):
    train.run(_config(shared_vocab, **{'train.steps': 10, 'model.mlp_dim': 96}), workdir)


MESHES = [(8, 1, 1), (2, 4, 1), (2, 2, 2)]  # data; data x fsdp; data x fsdp x tensor


def test_meshes_give_the_same_losses_and_fsdp_divides_state(shared_vocab, tmp_path, capsys):
  one = str(tmp_path / 'one')
  args, env = _cli(shared_vocab, one, '--config.train.steps=10', '--config.train.log_every_steps=1',
                   devices=1)
  out = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  reference = [r['loss'] for r in _records(one, 'train')]
  per_device = {}
  for shape in MESHES:
    workdir = str(tmp_path / 'x'.join(map(str, shape)))
    capsys.readouterr()
    train.run(_config(shared_vocab, **{'train.steps': 10, 'train.log_every_steps': 1,
                                       'mesh.data': shape[0], 'mesh.fsdp': shape[1],
                                       'mesh.tensor': shape[2]}), workdir)
    line = next(l for l in capsys.readouterr().out.splitlines() if 'MiB per device' in l)
    per_device[shape] = float(line.split('optimizer state ')[1].split(' MiB')[0])
    losses = [r['loss'] for r in _records(workdir, 'train')]
    np.testing.assert_allclose(losses, reference, rtol=1e-5, err_msg=str(shape))
  print('parameters + optimizer state per device (MiB):', per_device)
  assert per_device[(2, 4, 1)] < per_device[(8, 1, 1)] / 2
  assert per_device[(2, 2, 2)] < per_device[(8, 1, 1)] / 2
  shutil.rmtree(one)


def test_resume_on_a_different_device_count(shared_vocab, tmp_path):
  workdir = str(tmp_path / 'run')
  train.run(_config(shared_vocab, **{'train.steps': 10, 'checkpoint.every_steps': 5,
                                     'train.stop_at_step': 5, 'mesh.fsdp': 8, 'mesh.data': 1}),
            workdir)
  args, env = _cli(shared_vocab, workdir, '--config.train.steps=10',
                   '--config.checkpoint.every_steps=5', devices=1)
  out = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  assert 'resumed from' in out.stdout and "over 1 cpu devices" in out.stdout
  assert [r['step'] for r in _records(workdir, 'train')] == [5, 10]
