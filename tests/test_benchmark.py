import json
import os
import subprocess
import sys

import jax
import pytest

from mlm_jax import host_allocator
from tests.conftest import REPO


def test_benchmark_prints_json_with_mfu():
  out = subprocess.run(
      [sys.executable, 'tools/benchmark.py', '--config=configs/demo.py', '--steps=2', '--warmup=0',
       '--batch_size=8', '--config.model.num_layers=1', '--config.train.peak_flops=1e11',
       '--config.train.cpu_schedule=memory'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  for key in ('tokens_per_sec', 'step_time_s', 'model_flops_per_token', 'peak_flops', 'mfu'):
    assert result[key] > 0
  assert result['peak_flops'] == 8 * 1e11  # per-device peak x the 8 fake devices
  assert result['peak_flops_source'] == 'train.peak_flops'
  mfu = result['tokens_per_sec'] * result['model_flops_per_token'] / result['peak_flops']
  assert abs(result['mfu'] - mfu) < 1e-9
  # the back-to-back timing is the same steps' figure, on its own clock
  assert result['pipelined_step_time_s'] > 0
  pipelined = result['model_flops_per_token'] * 8 * 128 / result['pipelined_step_time_s']
  assert abs(result['pipelined_mfu'] - pipelined / result['peak_flops']) < 1e-9
  # provenance: which chip, JAX and XLA flags gave the figure
  assert result['device_kind'] and result['jax'] == jax.__version__
  assert 'xla_force_host_platform_device_count=8' in result['xla_flags']
  # ... including train.cpu_schedule's, applied before JAX started
  assert result['cpu_schedule'] == 'memory'
  assert result['xla_flags'].endswith('--xla_cpu_enable_concurrency_optimized_scheduler=false')
  # ... and which glibc malloc settings (they move XLA:CPU's step time)
  assert result['glibc_tunables'] == os.environ.get('GLIBC_TUNABLES', '')
  # ... and which malloc: this Linux CPU host re-executed it under mimalloc
  if sys.platform.startswith('linux') and host_allocator.library():
    assert result['allocator'] == 'mimalloc'


@pytest.mark.slow
def test_benchmark_data_only_mode_times_the_input_pipeline(tmp_path):
  out = subprocess.run(
      [sys.executable, 'tools/benchmark.py', '--config=configs/smoke.py', '--data_only',
       '--data_seconds=2', '--config.data.vocab_path=byte', '--config.model.vocab_size=261',
       f'--workdir={tmp_path}'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result['data_tokens_per_sec'] > 0 and result['data_packing_efficiency'] > 0.9


@pytest.mark.slow
def test_torch_twin_of_each_exportable_family_in_its_own_process():
  """--torch times the family's transformers twin (here ModernBertForMaskedLM) in a process of
  its own: both sides report step time, peak memory and the CPU model; ELECTRA has no twin."""
  out = subprocess.run(
      [sys.executable, 'tools/benchmark.py', '--config=configs/modernbert.py:size=tiny',
       '--steps=1', '--warmup=0', '--batch_size=8', '--torch', '--config.train.peak_flops=1e11'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  for key in ('torch_step_time_s', 'torch_peak_rss_mib', 'peak_rss_mib', 'compile_s',
              'speedup_vs_torch', 'memory_vs_torch'):
    assert result[key] > 0, key
  assert result['cpu'] and result['torch_peak_rss_mib'] != result['peak_rss_mib']
  assert result['torch_glibc_tunables'] == os.environ.get('GLIBC_TUNABLES', '')  # inherited
  assert result['torch_allocator'] == 'system'  # PyTorch as it is run (--torch_allocator)
  refused = subprocess.run(
      [sys.executable, 'tools/benchmark.py', '--config=configs/electra.py:size=tiny', '--steps=1',
       '--warmup=0', '--batch_size=8', '--torch', '--config.train.peak_flops=1e11'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert refused.returncode != 0
  assert refused.stderr.strip().splitlines()[-1] == (
      "error: --torch: model.name='electra' has no transformers twin")


def test_a_twin_killed_by_a_signal_is_named():
  """The kernel's out-of-memory killer leaves no stderr: say which signal ended the twin (in a
  process of its own: the benchmark's absl flags would clash with other tools' here)."""
  probe = ('import subprocess\n'
           'from tools import benchmark\n'
           'subprocess.run = lambda *a, **k: subprocess.CompletedProcess(a, -9, "", "")\n'
           'benchmark.run_torch_twin({})\n')
  out = subprocess.run([sys.executable, '-c', probe], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
  assert out.returncode == 1
  assert out.stderr.strip().splitlines()[-1] == (
      'error: the PyTorch run was killed by signal 9 (out of memory?)')


def test_packed_synthetic_rows_hold_k_whole_documents():
  """--docs_per_row's rows: K segments covering the row, each [CLS] ... [SEP] with positions
  from 0, so the step sees what fill packing leaves of a corpus of short documents."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from tools.synthetic_rows import synthetic_batch  # pylint: disable=g-import-not-at-top
  b = synthetic_batch(np.random.default_rng(3), 4, 64, 100, docs=3)
  for ids, seg, pos in zip(b['input_ids'], b['segment_ids'], b['positions']):
    assert sorted(set(seg)) == [1, 2, 3] and (np.diff(seg) >= 0).all()
    for k in (1, 2, 3):
      where = np.flatnonzero(seg == k)
      assert (pos[where] == np.arange(len(where))).all()
      assert ids[where[0]] == 2 and ids[where[-1]] == 3
  one = synthetic_batch(np.random.default_rng(3), 2, 64, 100)
  assert (one['segment_ids'] == 1).all() and (one['positions'][0] == np.arange(64)).all()


def test_importing_the_benchmark_reserves_no_accelerator_memory():
  """--torch sets XLA_PYTHON_CLIENT_PREALLOCATE in main(); that only works if no import has
  started a JAX backend (on a GPU the first start reserves 75% of its memory, and the twin then
  ran out of memory on an H100)."""
  probe = ('import tools.benchmark\n'
           'from jax._src import xla_bridge\n'
           'print(xla_bridge.backends_are_initialized())')
  out = subprocess.run([sys.executable, '-c', probe], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip().splitlines()[-1] == 'False'
