"""tools/cpu_bf16_study.py: each XLA setting timed in a process of its own, one JSON line each."""
import json
import subprocess
import sys

from tests.conftest import REPO


def test_study_times_both_dtypes_per_setting_and_names_unknown_settings():
  out = subprocess.run([sys.executable, 'tools/cpu_bf16_study.py', '--n=64', '--repeats=2',
                        '--only=default,onednn_fusion_dot'], cwd=REPO, capture_output=True,
                       text=True, timeout=300, check=False)
  assert out.returncode == 0, out.stderr[-2000:]
  rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
  assert [r.get('setting') for r in rows[:2]] == ['default', 'onednn_fusion_dot']
  for row in rows[:2]:
    assert row['float32_gflops'] > 0 and row['bfloat16_gflops'] > 0
    assert abs(row['bf16_over_f32'] - row['bfloat16_gflops'] / row['float32_gflops']) < 1e-9
  assert rows[2]['best_jax_bf16'] in ('default', 'onednn_fusion_dot') and rows[2]['cpu']
  bad = subprocess.run([sys.executable, 'tools/cpu_bf16_study.py', '--only=fastest'], cwd=REPO,
                       capture_output=True, text=True, timeout=60, check=False)
  assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].startswith(
      "error: --only: unknown setting 'fastest'")
