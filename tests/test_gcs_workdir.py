"""A gs:// run end to end against a local GCS emulator (tests/gcs/): train, SIGKILL, resume
bit-exact (its compiled step loaded from the bucket), export, plot and inspect — workdir, data,
vocabulary, compilation cache and export all in the bucket."""
import os
import random
import subprocess
import sys
import time

import pytest

from mlm_jax import checkpointing, compile_cache, fs, metrics_plot, train
from tests.conftest import REPO, config_flags, corpus_config, read_records, smoke_cli
from tests.gcs import emulator

pytestmark = pytest.mark.slow  # an emulator, a proxy and three training processes


@pytest.fixture(scope='module')
def bucket(shared_vocab):
  with emulator.running() as (root, env):
    saved = dict(os.environ)
    os.environ.update(env)  # this process reads the bucket too (TF reads the proxy per request)
    try:
      data = f'{root}/data'
      for key in ('train', 'validation', 'vocab_path'):
        fs.copy(shared_vocab[key], f'{data}/{os.path.basename(shared_vocab[key])}')
      yield root, env, {k: f'{data}/{os.path.basename(shared_vocab[k])}'
                        for k in ('train', 'validation', 'vocab_path')}
    finally:
      os.environ.clear()
      os.environ.update(saved)


def _losses(workdir):
  return {r['step']: r['loss'] for r in read_records(workdir, 'train')}  # last wins


def test_gs_run_killed_resumes_bit_exact_and_exports(bucket, shared_vocab, tmp_path):
  root, env, data = bucket
  settings = {'train.steps': 16, 'train.log_every_steps': 1, 'checkpoint.every_steps': 4}
  # gs:// metrics uploaded at once: the kill sees them
  common = (*config_flags(settings), '--config.train.remote_flush_seconds=0')

  def cli(workdir):
    args, cli_env = smoke_cli(data, workdir, *common)
    # The product's default: compiled steps cached in the gs:// workdir (not the tests' cache).
    run_env = {k: v for k, v in {**cli_env, **env}.items() if k != compile_cache.ENV}
    return args, {**run_env, 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0'}

  local = str(tmp_path / 'local')  # the same run with a local workdir, in this process
  train.run(corpus_config(shared_vocab, **settings), local)
  expected = _losses(local)

  remote = f'{root}/runs/cut'
  args, run_env = cli(remote)
  kill_at = random.Random().randint(5, 11)
  proc = subprocess.Popen(args, cwd=REPO, env=run_env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 300
    while max(_losses(remote), default=0) < kill_at:
      assert proc.poll() is None, proc.communicate()[1][-2000:]
      assert time.time() < deadline, f'no step {kill_at} in {remote}'
      time.sleep(0.3)
  finally:
    proc.kill()
    proc.wait()
  done = subprocess.run(args, cwd=REPO, env={**run_env, 'JAX_LOG_COMPILES': '1'},
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "Persistent compilation cache hit for 'jit_train_step'" in done.stderr  # from the bucket
  assert f'done: step 16, workdir {remote}' in done.stdout
  got = _losses(remote)
  assert max(got) == 16 and got == expected, (kill_at, got, expected)

  # Everything a run leaves is in the bucket.
  names = set(fs.listdir(remote))
  assert {'checkpoints', 'compilation_cache', 'config.json', 'metrics.jsonl', 'tensorboard',
          'vocab'} <= names
  assert fs.glob(f'{remote}/tensorboard/events.out.tfevents.*')
  assert checkpointing.describe(remote)['step'] == 16

  out = f'{root}/exports/cut'
  export = subprocess.run([sys.executable, 'tools/export_hf.py', f'--workdir={remote}',
                           f'--out={out}'], cwd=REPO, env=run_env, capture_output=True,
                          text=True, timeout=600)
  assert export.returncode == 0, export.stderr[-3000:]
  assert {'config.json', 'model.safetensors', 'tokenizer.json', 'README.md'} <= set(
      fs.listdir(out))
  from transformers import AutoModelForMaskedLM  # pylint: disable=g-import-not-at-top
  hf_dir = fs.cached_local(out)  # transformers reads local directories only
  assert type(AutoModelForMaskedLM.from_pretrained(hf_dir)).__name__ == 'BertForMaskedLM'

  plot = f'{root}/plots/cut.png'
  metrics_plot.plot([remote], plot)
  assert fs.getsize(plot) > 10_000


def test_unwritable_bucket_is_one_line(bucket, tmp_path):
  _, env, data = bucket
  args, run_env = smoke_cli(data, 'gs://no-such-bucket-mlm-jax/run')
  out = subprocess.run(args, cwd=REPO, env={**run_env, **env}, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode != 0
  assert out.stderr.strip().splitlines()[-1].startswith(
      'error: --workdir=gs://no-such-bucket-mlm-jax/run: not writable')
