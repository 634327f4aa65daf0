"""Self-attention and its patterns (which key each query may see).

Every pattern stays inside a packed segment and never looks at padding. Distances are
measured in `positions`, which restart at 0 in each packed segment, so a pattern means the
same for a packed document as for the document alone.
"""
import jax
import jax.numpy as jnp
from flax import linen as nn

from mlm_jax.models import layers, positions, splash

PATTERNS = ('bidirectional', 'causal', 'prefix', 'sliding_window')


def pattern_mask(pattern: str, segment_ids_BL, positions_BL, window: int,
                 prefix_len_B=None) -> jax.Array:
  """(B, 1, L, L) boolean mask, True where query i may attend key j.

  bidirectional: the whole segment. causal: keys at or before the query. prefix: every key of
  the first prefix_len_B[b] positions of each segment of row b, causal after them (no
  prefix_len_B: the whole segment). sliding_window: keys within window // 2 of the query.
  """
  mask_B1LL = layers.attention_mask(segment_ids_BL)
  q_B1L1 = positions_BL[:, None, :, None]
  k_B11L = positions_BL[:, None, None, :]
  if pattern == 'causal':
    return mask_B1LL & (k_B11L <= q_B1L1)
  if pattern == 'prefix':
    if prefix_len_B is None:
      return mask_B1LL
    return mask_B1LL & ((k_B11L <= q_B1L1) | (k_B11L < prefix_len_B[:, None, None, None]))
  if pattern == 'sliding_window':
    return mask_B1LL & (jnp.abs(q_B1L1 - k_B11L) <= window // 2)
  if pattern == 'bidirectional':
    return mask_B1LL
  raise ValueError(f'attention pattern {pattern!r} is not one of {"|".join(PATTERNS)}')


class Attention(nn.Module):
  """Multi-head self-attention under a given mask; rotary embeddings on q and k when
  rotary_base is set, ALiBi biases on the scores when alibi is set."""
  num_heads: int
  head_dim: int
  dropout_rate: float
  attention_dropout_rate: float
  init_std: float
  dtype: layers.Dtype
  impl: str
  deterministic: bool
  use_bias: bool = True
  rotary_base: float | None = None
  alibi: bool = False
  pattern: str = 'bidirectional'  # impl=splash: the pattern its kernel builds (mask_B1LL unused)
  window: int = 0  # impl=splash, sliding_window: total window
  low_rank: tuple = ()  # SLTrain (rank, density, alpha) for the four projections (low_rank.py)

  @nn.compact
  def __call__(self, x_BLD, mask_B1LL, positions_BL=None, segment_ids_BL=None, is_global=False):
    """segment_ids_BL, is_global: what impl=splash attends by (without them, e.g. in the MLM
    decoder's blocks, the XLA path runs on mask_B1LL)."""
    d_model = x_BLD.shape[-1]
    proj = lambda name: layers.Einsum(  # noqa: E731
        'bld,dhk->blhk', (d_model, self.num_heads, self.head_dim), ('embed', 'heads', 'kv'),
        ('heads', 'kv'), self.init_std, self.dtype, self.use_bias, self.low_rank, name=name)
    q_BLHK, k_BLHK, v_BLHK = (proj(n)(x_BLD) for n in ('query', 'key', 'value'))
    if self.rotary_base is not None:
      q_BLHK = positions.rotary(q_BLHK, positions_BL, self.rotary_base)
      k_BLHK = positions.rotary(k_BLHK, positions_BL, self.rotary_base)
    # What distillation reads (MiniLM: attention and value relations); a no-op unless the
    # caller makes 'intermediates' mutable.
    self.sow('intermediates', 'qkv', (q_BLHK, k_BLHK, v_BLHK))
    bias_BHLL = positions.alibi_bias(positions_BL, self.num_heads) if self.alibi else None
    if self.impl == 'splash' and segment_ids_BL is not None:
      out_BLHK = splash.attend(q_BLHK * self.head_dim ** -0.5, k_BLHK, v_BLHK, segment_ids_BL,
                               self.pattern, self.window, is_global).astype(v_BLHK.dtype)
    elif self.impl == 'cudnn':
      out_BLHK = jax.nn.dot_product_attention(
          q_BLHK, k_BLHK, v_BLHK, mask=mask_B1LL, implementation='cudnn',
          bias=None if bias_BHLL is None else bias_BHLL.astype(self.dtype))
    else:
      scale = self.head_dim ** -0.5
      logits_BHLL = jnp.einsum('bqhk,bshk->bhqs', q_BLHK * scale, k_BLHK).astype(jnp.float32)
      if bias_BHLL is not None:
        logits_BHLL = logits_BHLL + bias_BHLL
      # A large finite negative (not -inf): fully padded rows stay finite, and masked keys
      # get weight exactly 0, so packed documents never see each other.
      logits_BHLL = jnp.where(mask_B1LL, logits_BHLL, -1e9)
      probs_BHLL = jax.nn.softmax(logits_BHLL, axis=-1).astype(self.dtype)
      probs_BHLL = nn.Dropout(self.attention_dropout_rate)(probs_BHLL, self.deterministic)
      out_BLHK = jnp.einsum('bhqs,bshk->bqhk', probs_BHLL, v_BLHK)
    out_BLD = layers.Einsum('blhk,hkd->bld', (self.num_heads, self.head_dim, d_model),
                            ('heads', 'kv', 'embed'), ('embed',), self.init_std, self.dtype,
                            self.use_bias, self.low_rank, name='out')(out_BLHK)
    return nn.Dropout(self.dropout_rate)(out_BLD, self.deterministic)
