"""tools/gpu_check.sh end to end on CPU, with its models shrunk: every benchmark it names runs
(flags, configs and the PyTorch twins valid) and stdout is JSON lines only."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, TEST_XLA_FLAGS


@pytest.mark.slow
def test_gpu_check_script_prints_json_lines_for_each_check():
  shrink = ('--config.model.num_layers=1 --config.model.hidden_size=64 '
            '--config.model.num_heads=2 --config.model.mlp_dim=128 '
            '--config.model.vocab_size=512 --config.data.vocab_size=512 --config.train.peak_flops=1e11 --steps=1 --warmup=0')
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'GPU_CHECK_SHRINK': shrink, 'PYTHON': sys.executable,
         'XLA_FLAGS': TEST_XLA_FLAGS}
  out = subprocess.run(['bash', 'tools/gpu_check.sh', '2'], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=900, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
  assert rows[0]['compared'] == 0 and rows[0]['backend'] == 'cpu'  # no native backend on CPU
  bench = rows[1:]
  assert [r['config'] for r in bench] == ['bert', 'modernbert']  # cuDNN's row: GPUs only
  assert all(r['seq_len'] == 512 and r['batch_size'] == 2 for r in bench)
  assert all(r['torch_mfu'] > 0 and r['speedup_vs_torch'] > 0 for r in bench)
  assert bench[0]['profile']['device_s_per_step'] > 0 and bench[0]['profile']['top']
