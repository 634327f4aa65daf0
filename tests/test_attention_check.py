"""tools/attention_check.py: backends compared with the XLA reference on packed rows."""
import subprocess
import sys

from tests.conftest import REPO
from tools import attention_check


def test_splash_equals_reference_and_a_wrong_reference_is_caught(monkeypatch):
  row = attention_check.compare('splash', 'causal', 'float32', seq_len=128, heads=2, head_dim=16)
  assert row['equal'] and row['max_rel_out_diff'] < 1e-5 and row['max_rel_grad_diff'] < 1e-5
  # The reference attends bidirectionally while splash stays causal: the check must fail.
  real = attention_check.attention.pattern_mask
  monkeypatch.setattr(attention_check.attention, 'pattern_mask',
                      lambda _, *a, **k: real('bidirectional', *a, **k))
  wrong = attention_check.compare('splash', 'causal', 'float32', seq_len=128, heads=2,
                                  head_dim=16)
  assert not wrong['equal'] and wrong['max_rel_out_diff'] > 0.01


def test_unknown_backend_is_one_line():
  out = subprocess.run([sys.executable, 'tools/attention_check.py', '--impls=flash'], cwd=REPO,
                       capture_output=True, text=True, timeout=120, check=False)
  assert out.returncode != 0
  assert out.stderr.strip().splitlines()[-1] == (
      "error: --impls: 'flash' is not a backend to compare (cudnn, splash)")
