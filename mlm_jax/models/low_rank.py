"""SLTrain (Han et al., NeurIPS 2024): a weight matrix as a low-rank product plus a sparse matrix
of fixed random support, trained from scratch: W = (alpha / r) B A + S.

In our (input, output) kernel layout W (d_in x d_out) = (alpha / r) * sl_in (d_in x r) @ sl_out
(r x d_out) + S, S zero except at `density` x d_in x d_out positions drawn uniformly at random
once (without replacement) and never changed; only their values `sl_values` are trained.
Parameters per matrix: r (d_in + d_out) + density d_in d_out instead of d_in d_out; the optimizer
state shrinks alike. The dense W is formed inside the step (as the authors' PyTorch layer does
before its matmul), so activations cost what they cost densely.

Initialisation, as the method is summarised (the paper's sec. 3 and its code were not read here:
the authors' repository holds only a README): the input-side factor like a dense kernel
(Kaiming uniform), the output-side factor zero (so W starts as S, LoRA-style), S's values uniform
in [-1/sqrt(d_in), 1/sqrt(d_in)]. Our readings: the support is drawn from a seed of the matrix's
place in the layer stack (`layers_3/attention/query`), so pre-training, fine-tuning and export
agree on it without storing it; a scanned stack would share one trace across layers and is
refused.
"""
import zlib

import jax
import jax.numpy as jnp
import numpy as np

NAMES = ('sl_in', 'sl_out', 'sl_values')


def place_key(path) -> str:
  """The matrix's place from its layer on ('layers_3/attention/query'), whatever encloses the
  stack (a pre-training model, a fine-tuning model, a generator or discriminator)."""
  names = [str(p) for p in path]
  start = next((i for i, n in enumerate(names) if n.startswith('layers_')), 0)
  return '/'.join(names[start:])


def nonzeros(d_in: int, d_out: int, density: float) -> int:
  return max(1, int(round(density * d_in * d_out)))


def support(d_in: int, d_out: int, density: float, key: str) -> np.ndarray:
  """The fixed flat indices of S's non-zeros (sorted), the same for every caller of KEY."""
  rng = np.random.default_rng(zlib.crc32(key.encode()))
  return np.sort(rng.choice(d_in * d_out, nonzeros(d_in, d_out, density), replace=False))


def dense_kernel(sl_in, sl_out, sl_values, d_in: int, d_out: int, density: float, alpha: float,
                 key: str):
  """W (d_in, d_out) = (alpha / r) sl_in @ sl_out + S."""
  rank = sl_in.shape[-1]
  low = (alpha / rank) * (sl_in @ sl_out)
  idx = support(d_in, d_out, density, key)
  sparse = jnp.zeros((d_in * d_out,), sl_values.dtype).at[idx].set(sl_values)
  return low + sparse.reshape(d_in, d_out)


def uniform_init(d_in: int):
  """U[-1/sqrt(d_in), 1/sqrt(d_in)]: S's values, and the input-side factor (PyTorch nn.Linear's
  Kaiming uniform with a = sqrt(5) has this bound)."""
  bound = 1.0 / np.sqrt(d_in)
  return lambda rng, shape, dtype=jnp.float32: jax.random.uniform(rng, shape, dtype, -bound, bound)


def materialize(params, model_cfg, shapes: dict | None = None):
  """PARAMS with every SLTrain matrix replaced by its dense 'kernel' (for export): the kernel's
  full shape comes from SHAPES (its path 'a/b/c' -> shape) or is (d_in, d_out)."""
  if not model_cfg.get('sltrain_rank'):
    return params

  def walk(node, path):
    if isinstance(node, dict) and set(NAMES) <= set(node):
      d_in, d_out = node['sl_in'].shape[0], node['sl_out'].shape[-1]
      key = place_key(path)
      w = dense_kernel(jnp.asarray(node['sl_in']), jnp.asarray(node['sl_out']),
                       jnp.asarray(node['sl_values']), d_in, d_out, model_cfg.sltrain_density,
                       model_cfg.sltrain_alpha, key)
      shape = (shapes or {}).get('/'.join(map(str, path)), (d_in, d_out))
      rest = {k: v for k, v in node.items() if k not in NAMES}
      return {**rest, 'kernel': np.asarray(w).reshape(shape)}
    if isinstance(node, dict):
      return {k: walk(v, path + [k]) for k, v in node.items()}
    return node

  return walk(params, [])


def counts(params) -> tuple[int, int]:
  """(parameters, those of the dense twin): each SLTrain matrix counted as d_in x d_out."""
  total, dense = 0, 0

  def walk(node):
    nonlocal total, dense
    if isinstance(node, dict) and set(NAMES) <= set(node):
      for k, v in node.items():
        n = int(np.prod(v.shape))
        total += n
        if k not in NAMES:
          dense += n
      dense += node['sl_in'].shape[0] * node['sl_out'].shape[-1]
      return
    if isinstance(node, dict):
      for v in node.values():
        walk(v)
      return
    n = int(np.prod(node.shape))
    total += n
    dense += n

  walk(params)
  return total, dense
