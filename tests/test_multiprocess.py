"""2 processes x 4 CPU devices (gloo collectives on localhost) train exactly like 1 x 8."""
import os
import signal
import socket
import subprocess
import time

import numpy as np
import pytest

from mlm_jax import train
from tests.conftest import REPO, config_flags, corpus_config
from tests.conftest import read_records, smoke_cli as _cli

pytestmark = pytest.mark.slow  # two processes over gloo


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _train_losses(workdir):
  return [r['loss'] for r in read_records(workdir, 'train')]


def test_two_processes_match_one_process(shared_vocab, tmp_path):
  settings = {'train.steps': 8, 'train.log_every_steps': 1, 'data.host_sharding': 'rows',
              'checkpoint.every_steps': 4}
  extra = config_flags(settings)
  single = str(tmp_path / 'single')  # one process, 8 devices: this one
  train.run(corpus_config(shared_vocab, **settings), single)

  multi = str(tmp_path / 'multi')
  port = _free_port()
  procs = []
  for pid in range(2):
    args, env = _cli(shared_vocab, multi, *extra, '--config.mesh.dcn_data=2',
                     f'--coordinator_address=127.0.0.1:{port}',
                     '--num_processes=2', f'--process_id={pid}', devices=4)
    procs.append(subprocess.Popen(args, cwd=REPO, env={**env, 'JAX_PLATFORMS': 'cpu'},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  outs = [p.communicate(timeout=400) for p in procs]
  for p, (o, e) in zip(procs, outs):
    assert p.returncode == 0, e[-3000:]
  assert '2 process(es)' in outs[0][0]
  np.testing.assert_allclose(_train_losses(multi), _train_losses(single), rtol=1e-5)
  assert os.path.isdir(os.path.join(multi, 'checkpoints', '8'))


def test_sigterm_to_one_process_stops_both_at_the_same_step(shared_vocab, tmp_path):
  """Only process 1 is told to stop: JAX's preemption service makes both checkpoint the same
  step and exit 0 (a per-host flag would leave process 0 in a collective, hung)."""
  workdir = str(tmp_path / 'multi')
  port = _free_port()
  procs = []
  for pid in range(2):
    args, env = _cli(shared_vocab, workdir, '--config.train.steps=100000',
                     '--config.train.log_every_steps=1', '--config.data.host_sharding=rows',
                     '--config.checkpoint.every_steps=100000', '--config.mesh.dcn_data=2',
                     f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2',
                     f'--process_id={pid}', devices=4)
    procs.append(subprocess.Popen(args, cwd=REPO, env={**env, 'JAX_PLATFORMS': 'cpu'},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  try:
    deadline = time.time() + 300
    metrics_file = os.path.join(workdir, 'metrics.jsonl')
    while not (os.path.exists(metrics_file) and read_records(workdir, 'train')):
      assert time.time() < deadline and all(p.poll() is None for p in procs), 'no training step'
      time.sleep(0.5)
    procs[1].send_signal(signal.SIGTERM)
    outs = [p.communicate(timeout=300) for p in procs]
  finally:  # a hung peer must not outlive the test
    for p in procs:
      p.kill()
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  saved = os.listdir(os.path.join(workdir, 'checkpoints'))
  steps = [int(s) for s in saved if s.isdigit()]
  assert len(steps) == 1 and 0 < steps[0] < 100000, saved
  assert f'checkpoint of step {steps[0]} written' in outs[0][0]
  data_state = os.path.join(workdir, 'checkpoints', 'data_state', str(steps[0]))
  names = os.listdir(data_state)  # both hosts' input positions, of that same step
  assert all(any(n.startswith(f'host_{i}_of_2') for n in names) for i in range(2)), names
