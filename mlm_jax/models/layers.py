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


def layer_norm(eps: float, name: str, use_bias: bool = True) -> nn.LayerNorm:
  # LayerNorm statistics in float32 whatever the compute dtype.
  return nn.LayerNorm(epsilon=eps, dtype=jnp.float32, name=name, use_bias=use_bias,
                      scale_init=nn.with_logical_partitioning(nn.initializers.ones, LN_NAMES),
                      bias_init=zeros(LN_NAMES))


def norm(cfg, name: str) -> nn.Module:
  """The configured norm (model.norm_kind, model.use_bias), statistics in float32."""
  if cfg.norm_kind == 'rmsnorm':
    return nn.RMSNorm(epsilon=cfg.layer_norm_eps, dtype=jnp.float32, name=name,
                      scale_init=nn.with_logical_partitioning(nn.initializers.ones, LN_NAMES))
  return layer_norm(cfg.layer_norm_eps, name, cfg.use_bias)


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
  use_bias: bool = True

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', dense_init(self.init_std, self.kernel_axes), self.kernel_shape)
    y = jnp.einsum(self.equation, x.astype(self.dtype), kernel.astype(self.dtype))
    if not self.use_bias:
      return y
    bias_shape = self.kernel_shape[-len(self.bias_axes):]
    bias = self.param('bias', zeros(self.bias_axes), bias_shape)
    return y + bias.astype(self.dtype)


MLP_ACTIVATIONS = {
    'gelu': lambda h: nn.gelu(h, approximate=False),  # exact erf GELU, as BERT
    'geglu': lambda h: nn.gelu(h, approximate=False),
    'swiglu': nn.silu,
}


class Mlp(nn.Module):
  """gelu: wi -> GELU -> wo (BERT). geglu / swiglu: act(x wi_0) * (x wi_1) -> wo, where
  mlp_dim is the width of the gated product (Shazeer 2020)."""
  mlp_dim: int
  dropout_rate: float
  init_std: float
  dtype: Dtype
  deterministic: bool
  kind: str = 'gelu'
  use_bias: bool = True

  @nn.compact
  def __call__(self, x_BLD):
    d_model = x_BLD.shape[-1]
    dense = lambda width, axes, name: nn.Dense(  # noqa: E731
        width, dtype=self.dtype, name=name, use_bias=self.use_bias,
        kernel_init=dense_init(self.init_std, axes), bias_init=zeros(axes[-1:]))
    act = MLP_ACTIVATIONS[self.kind]
    if self.kind == 'gelu':
      h_BLF = act(dense(self.mlp_dim, ('embed', 'mlp'), 'wi')(x_BLD))
    else:
      gate_BLF = dense(self.mlp_dim, ('embed', 'mlp'), 'wi_0')(x_BLD)
      h_BLF = act(gate_BLF) * dense(self.mlp_dim, ('embed', 'mlp'), 'wi_1')(x_BLD)
    h_BLF = nn.with_logical_constraint(h_BLF, ('batch', 'length', 'mlp'))
    out_BLD = dense(d_model, ('mlp', 'embed'), 'wo')(h_BLF)
    return nn.Dropout(self.dropout_rate)(out_BLD, self.deterministic)
