"""Composable encoder blocks: reference attention, the default block's fingerprint, training
runs of non-BERT blocks, scan equivalence, ALiBi extrapolation and config validation."""
import numpy as np

from tests import bert_fingerprint
from tests.conftest import tiny_config


def test_default_block_is_todays_bert():
  """Same seed, same parameters (names, shapes, values) and outputs as before blocks."""
  want = dict(np.load(bert_fingerprint.FIXTURE))
  got = bert_fingerprint.fingerprint(tiny_config().model)
  assert sorted(got) == sorted(want)
  for key in want:
    if key.startswith('param/'):
      np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  # Outputs to float32 round-off: another CPU may order the matmul sums differently.
  np.testing.assert_allclose(got['hidden'], want['hidden'], rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(got['logits'], want['logits'], rtol=1e-6, atol=1e-5)
