"""ELECTRA's layer-wise learning-rate decay as a per-parameter scale on the optimizer's update.

Depth as in ELECTRA's run_finetuning.py (_get_layer_lrs): embeddings (and their projection) 0,
layer i i + 1, the task head L + 2; scale = decay^(L + 2 - depth). A final LayerNorm (pre-LN
encoders) counts as L + 1. Scanned stacks get one scale per layer along their leading axis.
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax


def _depth(path: tuple[str, ...], num_layers: int):
  if path[0] == 'head' or (len(path) > 1 and path[1] == 'head'):
    return num_layers + 2
  if len(path) > 2 and path[1] == 'encoder':
    m = re.fullmatch(r'layers_(\d+)', path[2])
    if m:
      return int(m.group(1)) + 1
    if path[2] == 'layers':
      return np.arange(1, num_layers + 1)
    return num_layers + 1  # final_norm
  return 0  # embeddings, embeddings_project


def scales(params, num_layers: int, decay: float):
  """A tree like PARAMS of float32 scales (arrays broadcasting over scanned leaves)."""
  def one(path, leaf):
    names = tuple(getattr(k, 'key', str(k)) for k in path)
    depth = _depth(names, num_layers)
    s = np.asarray(decay, np.float64) ** (num_layers + 2 - np.asarray(depth))
    if np.ndim(s):
      s = s.reshape((-1,) + (1,) * (len(leaf.shape) - 1))
    return np.asarray(s, np.float32)
  return jax.tree_util.tree_map_with_path(one, params)


def scale_updates(scale_tree) -> optax.GradientTransformation:
  """Multiplies each update by its scale (after AdamW: lr and weight decay scale alike)."""
  def init(params):
    del params
    return optax.EmptyState()

  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda u, s: u * jnp.asarray(s, u.dtype), updates, scale_tree), state

  return optax.GradientTransformation(init, update)
