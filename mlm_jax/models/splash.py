"""Pallas splash attention (model.attention_impl=splash): the TPU kernel, block-sparse over the
attention pattern, with packed documents kept apart by segment ids. On other backends it runs
in Pallas interpret mode (slow, exact: what CPU tests check against the XLA reference).

Patterns: bidirectional (every key of the segment), causal, sliding_window (keys within
window // 2 of the query: inside a packed segment, position and index distances are equal);
ModernBERT's global layers use the bidirectional mask. Not supported (config validation says
so in one line): prefix, ALiBi biases, attention dropout, rows that are not a multiple of 128.
"""
import jax
import jax.numpy as jnp
from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_kernel as kernel
from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_mask as masks

PATTERNS = ('bidirectional', 'causal', 'sliding_window')
BLOCK = 128  # rows must be a multiple of it


def _mask(pattern: str, length: int, window: int):
  shape = (length, length)
  if pattern == 'causal':
    return masks.CausalMask(shape)
  if pattern == 'sliding_window':
    return masks.LocalMask(shape, window_size=(window // 2, window // 2), offset=0)
  return masks.FullMask(shape)


def _kernel(pattern: str, length: int, window: int, heads: int, interpret: bool):
  """Built per trace (not cached: its mask tables are arrays of the trace that made them)."""
  block = min(512, length) if length % 512 == 0 else BLOCK
  sizes = kernel.BlockSizes(block_q=block, block_kv=block, block_kv_compute=block,
                            block_q_dkv=block, block_kv_dkv=block, block_kv_dkv_compute=block,
                            block_q_dq=block, block_kv_dq=block)
  mask = masks.MultiHeadMask([_mask(pattern, length, window) for _ in range(heads)])
  return kernel.make_splash_mha(mask, block_sizes=sizes, head_shards=1, q_seq_shards=1,
                                interpret=interpret)


def attend(q_BLHK, k_BLHK, v_BLHK, segment_ids_BL, pattern: str, window: int,
           is_global=False):
  """softmax(q k^T) v under PATTERN within segments (q already scaled). IS_GLOBAL (a bool, or
  a traced one under nn.scan) switches a local layer to the whole segment."""
  _, L, H, _ = q_BLHK.shape
  interpret = jax.default_backend() != 'tpu'
  seg = kernel.SegmentIds(q=segment_ids_BL, kv=segment_ids_BL)
  q, k, v = (jnp.swapaxes(x, 1, 2) for x in (q_BLHK, k_BLHK, v_BLHK))  # B H L K

  def run(p):
    return jax.vmap(_kernel(p, L, window, H, interpret))(q, k, v, seg)

  if pattern != 'sliding_window' or is_global is False:
    out_BHLK = run(pattern)
  elif is_global is True:
    out_BHLK = run('bidirectional')
  else:
    out_BHLK = jax.lax.cond(is_global, lambda: run('bidirectional'), lambda: run(pattern))
  return jnp.swapaxes(out_BHLK, 1, 2)
