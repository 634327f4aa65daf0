"""Position schemes applied inside attention: rotary embeddings (RoPE) and ALiBi biases.

Both read the per-token `positions` of the data path, which restart at 0 in each packed
segment, so a packed document sees the same positions as it would alone.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np


def rotary(x_BLHK: jax.Array, positions_BL: jax.Array, base: float) -> jax.Array:
  """RoPE (Su et al. 2021) in the rotate-half layout of GPT-NeoX / Hugging Face: feature i
  pairs with feature i + K/2 and turns by position x base^(-2i/K)."""
  k = x_BLHK.shape[-1]
  if k % 2:
    raise ValueError(f'rotary embeddings need an even head dimension, got {k}')
  inv_freq_h = base ** (-np.arange(0, k, 2, dtype=np.float32) / k)
  angle_BL1h = (positions_BL.astype(jnp.float32)[..., None] * inv_freq_h)[:, :, None, :]
  sin, cos = jnp.sin(angle_BL1h), jnp.cos(angle_BL1h)
  x1, x2 = jnp.split(x_BLHK.astype(jnp.float32), 2, axis=-1)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(x_BLHK.dtype)


def alibi_slopes(num_heads: int) -> np.ndarray:
  """ALiBi head slopes (Press et al. 2022): 2^(-8i/n) for i = 1..n when n is a power of 2;
  otherwise the paper's rule: the slopes of the power of 2 below n, then every other slope
  of twice that power, until there are n."""
  def power_of_2(n):
    return [2.0 ** (-8.0 * i / n) for i in range(1, n + 1)]
  if math.log2(num_heads).is_integer():
    return np.array(power_of_2(num_heads), np.float32)
  closest = 2 ** math.floor(math.log2(num_heads))
  extra = list(alibi_slopes(2 * closest))[0::2][:num_heads - closest]
  return np.array(power_of_2(closest) + extra, np.float32)


def alibi_bias(positions_BL: jax.Array, num_heads: int) -> jax.Array:
  """-slope_h x |i - j|, symmetric for a bidirectional encoder (as MosaicBERT). (B, H, L, L)."""
  pos_BL = positions_BL.astype(jnp.float32)
  distance_BLL = jnp.abs(pos_BL[:, :, None] - pos_BL[:, None, :])
  return -alibi_slopes(num_heads)[None, :, None, None] * distance_BLL[:, None]
