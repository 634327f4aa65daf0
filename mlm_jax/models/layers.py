"""Transformer building blocks. Logical axis names only; the mesh is config data."""
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

Dtype = Any
LN_NAMES = ('embed',)


def dense_init(stddev: float, names: tuple[str | None, ...]):
  return nn.with_logical_partitioning(nn.initializers.truncated_normal(stddev), names)


def zeros(names: tuple[str | None, ...]):
  return nn.with_logical_partitioning(nn.initializers.zeros, names)


def layer_norm(eps: float, name: str) -> nn.LayerNorm:
  # LayerNorm statistics in float32 whatever the compute dtype.
  return nn.LayerNorm(epsilon=eps, dtype=jnp.float32, name=name,
                      scale_init=nn.with_logical_partitioning(nn.initializers.ones, LN_NAMES),
                      bias_init=zeros(LN_NAMES))


def attention_mask(segment_ids_BL: jax.Array) -> jax.Array:
  """True where query i may attend key j: same segment, and the key is not padding."""
  same = segment_ids_BL[:, :, None] == segment_ids_BL[:, None, :]
  return (same & (segment_ids_BL[:, None, :] != 0))[:, None]  # B1LL


class Einsum(nn.Module):
  """A projection whose kernel has its full (multi-axis) shape from the start, so every axis
  carries its logical name; flax's DenseGeneral initialises a flattened kernel instead."""
  equation: str
  kernel_shape: tuple[int, ...]
  kernel_axes: tuple[str, ...]
  bias_axes: tuple[str, ...]
  init_std: float
  dtype: Dtype

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', dense_init(self.init_std, self.kernel_axes), self.kernel_shape)
    bias_shape = self.kernel_shape[-len(self.bias_axes):]
    bias = self.param('bias', zeros(self.bias_axes), bias_shape)
    y = jnp.einsum(self.equation, x.astype(self.dtype), kernel.astype(self.dtype))
    return y + bias.astype(self.dtype)


class Attention(nn.Module):
  """Multi-head self-attention confined to each packed segment."""
  num_heads: int
  head_dim: int
  dropout_rate: float
  attention_dropout_rate: float
  init_std: float
  dtype: Dtype
  impl: str
  deterministic: bool

  @nn.compact
  def __call__(self, x_BLD, mask_B1LL):
    d_model = x_BLD.shape[-1]
    proj = lambda name: Einsum(  # noqa: E731
        'bld,dhk->blhk', (d_model, self.num_heads, self.head_dim), ('embed', 'heads', 'kv'),
        ('heads', 'kv'), self.init_std, self.dtype, name=name)
    q_BLHK, k_BLHK, v_BLHK = (proj(n)(x_BLD) for n in ('query', 'key', 'value'))
    if self.impl == 'cudnn':
      out_BLHK = jax.nn.dot_product_attention(q_BLHK, k_BLHK, v_BLHK, mask=mask_B1LL,
                                              implementation='cudnn')
    else:
      scale = self.head_dim ** -0.5
      logits_BHLL = jnp.einsum('bqhk,bshk->bhqs', q_BLHK * scale, k_BLHK).astype(jnp.float32)
      # A large finite negative (not -inf): fully padded rows stay finite, and masked keys
      # get weight exactly 0, so packed documents never see each other.
      logits_BHLL = jnp.where(mask_B1LL, logits_BHLL, -1e9)
      probs_BHLL = jax.nn.softmax(logits_BHLL, axis=-1).astype(self.dtype)
      probs_BHLL = nn.Dropout(self.attention_dropout_rate)(probs_BHLL, self.deterministic)
      out_BLHK = jnp.einsum('bhqs,bshk->bqhk', probs_BHLL, v_BLHK)
    out_BLD = Einsum('blhk,hkd->bld', (self.num_heads, self.head_dim, d_model),
                     ('heads', 'kv', 'embed'), ('embed',), self.init_std, self.dtype,
                     name='out')(out_BLHK)
    return nn.Dropout(self.dropout_rate)(out_BLD, self.deterministic)


class Mlp(nn.Module):
  mlp_dim: int
  dropout_rate: float
  init_std: float
  dtype: Dtype
  deterministic: bool

  @nn.compact
  def __call__(self, x_BLD):
    d_model = x_BLD.shape[-1]
    h_BLF = nn.Dense(self.mlp_dim, dtype=self.dtype, name='wi',
                     kernel_init=dense_init(self.init_std, ('embed', 'mlp')),
                     bias_init=zeros(('mlp',)))(x_BLD)
    h_BLF = nn.gelu(h_BLF, approximate=False)  # exact erf GELU, as BERT
    h_BLF = nn.with_logical_constraint(h_BLF, ('batch', 'length', 'mlp'))
    out_BLD = nn.Dense(d_model, dtype=self.dtype, name='wo',
                       kernel_init=dense_init(self.init_std, ('mlp', 'embed')),
                       bias_init=zeros(('embed',)))(h_BLF)
    return nn.Dropout(self.dropout_rate)(out_BLD, self.deterministic)


class TransformerLayer(nn.Module):
  """One block; post-LN (BERT) or pre-LN. Signature fits nn.scan: (carry, mask) -> (carry, None)."""
  cfg: Any  # model ConfigDict
  deterministic: bool

  @nn.compact
  def __call__(self, x_BLD, mask_B1LL):
    c = self.cfg
    dtype = jnp.dtype(c.dtype)
    attn = Attention(c.num_heads, c.hidden_size // c.num_heads, c.dropout_rate,
                     c.attention_dropout_rate, c.initializer_range, dtype, c.attention_impl,
                     self.deterministic, name='attention')
    mlp = Mlp(c.mlp_dim, c.dropout_rate, c.initializer_range, dtype, self.deterministic,
              name='mlp')
    attn_norm = layer_norm(c.layer_norm_eps, 'attention_norm')
    mlp_norm = layer_norm(c.layer_norm_eps, 'mlp_norm')
    if c.pre_layer_norm:
      x_BLD = x_BLD + attn(attn_norm(x_BLD).astype(dtype), mask_B1LL)
      x_BLD = x_BLD + mlp(mlp_norm(x_BLD).astype(dtype))
    else:
      x_BLD = attn_norm(x_BLD + attn(x_BLD, mask_B1LL)).astype(dtype)
      x_BLD = mlp_norm(x_BLD + mlp(x_BLD)).astype(dtype)
    x_BLD = nn.with_logical_constraint(x_BLD, ('batch', 'length', 'act_embed'))
    return x_BLD, None
