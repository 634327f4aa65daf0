"""Transformer building blocks. Logical axis names only; the mesh is config data."""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from mlm_jax.models import low_rank

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


def tied_scores(h_BPD: jax.Array, table_VD: jax.Array) -> jax.Array:
  """A tied decoder's scores against every token embedding, in the compute dtype of H: with
  bf16 activations the vocabulary GEMM and both of its gradients run in bf16 (promoting to a
  float32 table made them float32, a TF32 kernel on an H100), and bf16 scores reach the float32
  loss, as in T5X."""
  return jnp.dot(h_BPD, table_VD.astype(h_BPD.dtype).T)


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
  low_rank: tuple = ()  # SLTrain (rank, density, alpha): W = (alpha/r) B A + S (low_rank.py)

  @nn.compact
  def __call__(self, x):
    if self.low_rank:
      kernel = self._sparse_plus_low_rank()
    else:
      kernel = self.param('kernel', dense_init(self.init_std, self.kernel_axes), self.kernel_shape)
    y = jnp.einsum(self.equation, x.astype(self.dtype), kernel.astype(self.dtype))
    if not self.use_bias:
      return y
    bias_shape = self.kernel_shape[-len(self.bias_axes):]
    bias = self.param('bias', zeros(self.bias_axes), bias_shape)
    return y + bias.astype(self.dtype)

  def _sparse_plus_low_rank(self):
    """The kernel from SLTrain's parameters: the input axes (those of the kernel the input
    shares, leading) flattened to d_in, the rest to d_out."""
    rank, density, alpha = self.low_rank
    x_spec, k_spec = self.equation.split('->')[0].split(',')
    n_in = sum(ch in x_spec for ch in k_spec)
    d_in = int(np.prod(self.kernel_shape[:n_in]))
    d_out = int(np.prod(self.kernel_shape[n_in:]))
    part = lambda init, names: nn.with_logical_partitioning(init, names)  # noqa: E731
    sl_in = self.param('sl_in', part(low_rank.uniform_init(d_in), (None, None)), (d_in, rank))
    sl_out = self.param('sl_out', part(nn.initializers.zeros, (None, None)), (rank, d_out))
    values = self.param('sl_values', part(low_rank.uniform_init(d_in), (None,)),
                        (low_rank.nonzeros(d_in, d_out, density),))
    w = low_rank.dense_kernel(sl_in, sl_out, values, d_in, d_out, density, alpha,
                              low_rank.place_key(self.scope.path))
    return w.reshape(self.kernel_shape)


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
  low_rank: tuple = ()  # SLTrain (rank, density, alpha), as Einsum

  @nn.compact
  def __call__(self, x_BLD):
    d_model = x_BLD.shape[-1]
    # Einsum '...i,io->...o' is nn.Dense with the same parameter names and layout.
    dense = lambda width, axes, name: Einsum(  # noqa: E731
        'bli,io->blo', (x_BLD.shape[-1] if axes[0] == 'embed' else self.mlp_dim, width), axes,
        axes[-1:], self.init_std, self.dtype, self.use_bias, self.low_rank, name=name)
    act = MLP_ACTIVATIONS[self.kind]
    if self.kind == 'gelu':
      h_BLF = act(dense(self.mlp_dim, ('embed', 'mlp'), 'wi')(x_BLD))
    else:
      gate_BLF = dense(self.mlp_dim, ('embed', 'mlp'), 'wi_0')(x_BLD)
      h_BLF = act(gate_BLF) * dense(self.mlp_dim, ('embed', 'mlp'), 'wi_1')(x_BLD)
    h_BLF = nn.with_logical_constraint(h_BLF, ('batch', 'length', 'mlp'))
    out_BLD = dense(d_model, ('mlp', 'embed'), 'wo')(h_BLF)
    return nn.Dropout(self.dropout_rate)(out_BLD, self.deterministic)
