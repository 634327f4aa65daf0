"""Composable encoder blocks: reference attention, the default block's fingerprint, training
runs of non-BERT blocks, scan equivalence, ALiBi extrapolation and config validation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from mlm_jax.models import attention, positions
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


# ---------------------------------------------------------------- reference attention

def _packed_rows():
  """Row 0: segments of 7 and 6 tokens, then 3 padding; row 1: segments of 10, 4 and 2."""
  seg = np.array([[1] * 7 + [2] * 6 + [0] * 3, [1] * 10 + [2] * 4 + [3] * 2], np.int32)
  pos = np.array([list(range(7)) + list(range(6)) + [0] * 3,
                  list(range(10)) + list(range(4)) + list(range(2))], np.int32)
  return seg, pos


def _offsets(seg_row):
  """Each token's index within its segment, from the segment ids alone."""
  return np.array([i - list(seg_row).index(s) for i, s in enumerate(seg_row)])


def _allowed(pattern, seg, b, i, j, window, prefix_len):
  if seg[b, i] != seg[b, j] or seg[b, j] == 0:
    return False
  off = _offsets(seg[b])
  if pattern == 'causal':
    return off[j] <= off[i]
  if pattern == 'prefix':
    return prefix_len is None or off[j] < prefix_len[b] or off[j] <= off[i]
  if pattern == 'sliding_window':
    return abs(off[i] - off[j]) <= window // 2
  return True


def _rope_ref(x, seg, base):
  """Rotate-half RoPE, one token and one feature pair at a time."""
  out = x.copy()
  half = x.shape[-1] // 2
  for b in range(x.shape[0]):
    off = _offsets(seg[b])
    for t in range(x.shape[1]):
      for f in range(half):
        theta = off[t] * base ** (-2.0 * f / x.shape[-1])
        a, c = x[b, t, :, f], x[b, t, :, f + half]
        out[b, t, :, f] = a * np.cos(theta) - c * np.sin(theta)
        out[b, t, :, f + half] = c * np.cos(theta) + a * np.sin(theta)
  return out


def _attention_ref(p, x, seg, pattern, scheme, slopes, window=4, prefix_len=None, base=1e4):
  q, k, v = (np.einsum('bld,dhk->blhk', x, p[n]['kernel']) + p[n]['bias']
             for n in ('query', 'key', 'value'))
  if scheme == 'rotary':
    q, k = _rope_ref(q, seg, base), _rope_ref(k, seg, base)
  B, L, H, K = q.shape
  out = np.zeros_like(q)
  for b in range(B):
    off = _offsets(seg[b])
    for i in np.flatnonzero(seg[b]):  # padding queries are never read
      keys = [j for j in range(L) if _allowed(pattern, seg, b, i, j, window, prefix_len)]
      for h in range(H):
        s = np.array([q[b, i, h] @ k[b, j, h] / np.sqrt(K) for j in keys])
        if scheme == 'alibi':
          s = s - slopes[h] * np.abs(off[i] - off[keys])
        w = np.exp(s - s.max())
        out[b, i, h] = (w / w.sum()) @ v[b, keys, h]
  return np.einsum('blhk,hkd->bld', out, p['out']['kernel']) + p['out']['bias']


def _slopes_ref(n):
  """ALiBi slopes written out from the paper: 2^(-8i/n) for a power of 2; for 6 and 12
  heads, those of 4 (8) then every other one of 8 (16)."""
  table = {4: [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8],
           6: [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3],
           12: [2.0 ** -i for i in range(1, 9)] + [2 ** -0.5, 2 ** -1.5, 2 ** -2.5, 2 ** -3.5]}
  return np.array(table[n])


@pytest.mark.parametrize('n', [4, 6, 12])
def test_alibi_slopes_follow_the_paper(n):
  np.testing.assert_allclose(positions.alibi_slopes(n), _slopes_ref(n), rtol=1e-7)


CASES = [  # (pattern, position scheme, heads, prefix lengths)
    ('bidirectional', 'alibi', 4, None),
    ('bidirectional', 'alibi', 6, None),
    ('bidirectional', 'rotary', 4, None),
    ('causal', 'none', 4, None),
    ('causal', 'rotary', 4, None),
    ('prefix', 'none', 4, [3, 5]),
    ('prefix', 'alibi', 4, None),
    ('sliding_window', 'rotary', 4, None),
    ('sliding_window', 'alibi', 4, None),
]


@pytest.mark.parametrize('pattern,scheme,heads,prefix_len', CASES)
def test_attention_matches_reference(pattern, scheme, heads, prefix_len):
  seg, pos = _packed_rows()
  head_dim = 8
  module = attention.Attention(heads, head_dim, 0.0, 0.0, 0.02, jnp.float32, 'xla', True,
                               rotary_base=1e4 if scheme == 'rotary' else None,
                               alibi=scheme == 'alibi')
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 16, heads * head_dim)).astype(np.float32)
  prefix = None if prefix_len is None else np.array(prefix_len, np.int32)
  mask = attention.pattern_mask(pattern, seg, pos, 4, prefix)
  params = module.init(jax.random.key(0), x, mask, pos)['params']
  # Random biases and kernels of unit scale: a dropped bias or a wrong rotation shows.
  params = jax.tree.map(lambda a: rng.normal(size=a.shape).astype(np.float32) * 0.3,
                        nn.meta.unbox(params))
  got = np.asarray(module.apply({'params': params}, x, mask, pos))
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  want = _attention_ref(p, x.astype(np.float64), seg, pattern, scheme, _slopes_ref(heads),
                        prefix_len=prefix_len)
  real = seg != 0
  np.testing.assert_allclose(got[real], want[real], atol=1e-5, rtol=1e-5)
