"""Sparse pre-training by gradual magnitude pruning ("The Journey Matters", Jin et al., ICLR
2025): pruning starts at train.prune_start (0.25) of the training compute and reaches
train.prune_sparsity at train.prune_end (0.75); the model is then trained sparse to the end.

- Schedule: Zhu & Gupta's cubic ramp (2017, eq. 1, initial sparsity 0), the gradual pruning the
  paper builds on: s(t) = s_f (1 - (1 - (t - t_0) / (t_1 - t_0))^3) between t_0 and t_1. With a
  fixed batch, compute is proportional to steps, so the fractions are of train.steps.
- What is pruned: the kernels of every attention projection and MLP matrix (the paper's
  "prunable parameters in the linear layers"); embeddings, norms, biases and heads stay dense.
- How: every train.prune_every steps inside the ramp (and at its last step) each matrix keeps
  its largest-magnitude (1 - s(t)) fraction (per layer in a scanned stack); between
  re-selections pruned weights are held at zero after every update (the mask is the set of
  zeros, so nothing extra is checkpointed and a resumed run goes on exactly).
- Accounting: `sparsity` (of the prunable matrices), `active_params` (non-zero parameters now)
  and `average_params` (their mean over the steps so far, the paper's model-size term) are
  logged with the training metrics.

Our readings: one sparsity per matrix (uniform over layers, as Zhu & Gupta), not global
magnitude ranking; the mask is chosen after the optimizer update of a re-selection step.
"""
import jax
import jax.numpy as jnp
import numpy as np

PRUNED_GROUPS = ('attention', 'mlp')  # modules whose kernels are pruned


def enabled(train_cfg) -> bool:
  return train_cfg.prune_sparsity > 0


def ramp(train_cfg) -> tuple[int, int]:
  """(first, last) step of the pruning ramp."""
  t = train_cfg
  return int(round(t.prune_start * t.steps)), int(round(t.prune_end * t.steps))


def sparsity_at(step, train_cfg):
  """s(step): 0 before the ramp, the cubic ramp, prune_sparsity after it (numpy or traced)."""
  first, last = ramp(train_cfg)
  progress = jnp.clip((step - first) / max(last - first, 1), 0.0, 1.0)
  return train_cfg.prune_sparsity * (1.0 - (1.0 - progress) ** 3)


def is_reselection(step, train_cfg):
  """Steps at which the masks are chosen again: every prune_every steps in the ramp, its end."""
  first, last = ramp(train_cfg)
  in_ramp = (step >= first) & (step <= last)
  return in_ramp & (((step - first) % train_cfg.prune_every == 0) | (step == last))


def _path_names(path) -> list[str]:
  return [str(getattr(k, 'key', getattr(k, 'name', k))) for k in path]


def prunable(params) -> dict:
  """A tree of bools: True for attention and MLP kernels."""
  def pick(path, leaf):
    names = _path_names(path)
    return (names[-1] == 'kernel' and leaf.ndim >= 2
            and any(n in PRUNED_GROUPS for n in names))
  return jax.tree_util.tree_map_with_path(pick, params)


def _stacked(path) -> bool:
  """A scanned stack's leaf: its leading axis is the layer."""
  return 'layers' in _path_names(path)


def magnitude_keep(w, sparsity, per_layer: bool):
  """Keep the largest-|w| (1 - sparsity) fraction of W (of each W[i] when PER_LAYER)."""
  def one(x):
    flat = jnp.abs(x).reshape(-1)
    k = jnp.floor(sparsity * flat.size).astype(jnp.int32)  # how many to zero
    threshold = jnp.sort(flat)[jnp.maximum(k - 1, 0)]
    return jnp.where(k > 0, jnp.abs(x) > threshold, True)
  return jax.vmap(one)(w) if per_layer else one(w)


def after_update(old_params, new_params, step, train_cfg):
  """NEW_PARAMS with pruned weights held at zero and, at a re-selection step, the masks chosen
  again at s(step). STEP is the step just taken (1-based)."""
  mask_tree = prunable(new_params)
  sparsity = sparsity_at(step, train_cfg)

  def hold(old, new, is_prunable):
    return jnp.where(old != 0, new, 0).astype(new.dtype) if is_prunable else new

  held = jax.tree.map(hold, old_params, new_params, mask_tree)

  def reselect(params):
    def one(path, w, is_prunable):
      if not is_prunable:
        return w
      return jnp.where(magnitude_keep(w, sparsity, _stacked(path)), w, 0).astype(w.dtype)
    return jax.tree_util.tree_map_with_path(one, params, mask_tree)

  return jax.lax.cond(is_reselection(step, train_cfg), reselect, lambda p: p, held)


def sparsity_metrics(params) -> dict:
  """(sum, count) metrics: the zero fraction of the prunable matrices."""
  leaves = [w for w, p in zip(jax.tree.leaves(params), jax.tree.leaves(prunable(params))) if p]
  zeros = sum(jnp.sum(w == 0) for w in leaves).astype(jnp.float32)
  total = float(sum(w.size for w in leaves))
  return {'sparsity': (zeros, jnp.ones(()) * total)}


def counts(params) -> tuple[int, int]:
  """(all parameters, prunable ones) of a parameter tree (shapes only)."""
  sizes = [int(np.prod(w.shape)) for w in jax.tree.leaves(params)]
  flags = jax.tree.leaves(prunable(params))
  return sum(sizes), sum(s for s, f in zip(sizes, flags) if f)


def average_params(step: int, total: int, prunable_count: int, train_cfg) -> tuple[float, float]:
  """(active parameters after STEP, their mean over steps 1..STEP) by the schedule."""
  steps = np.arange(1, step + 1)
  active = total - prunable_count * np.asarray(sparsity_at(steps, train_cfg))
  return float(active[-1]), float(active.mean())


def validate(train_cfg) -> list[tuple[bool, str]]:
  t = train_cfg
  return [
      (0 <= t.prune_sparsity < 1, f'train.prune_sparsity={t.prune_sparsity} must be in [0, 1)'),
      (0 <= t.prune_start <= t.prune_end <= 1,
       f'train.prune_start={t.prune_start} and train.prune_end={t.prune_end} must satisfy '
       '0 <= start <= end <= 1'),
      (t.prune_every > 0, f'train.prune_every={t.prune_every} must be positive'),
  ]
