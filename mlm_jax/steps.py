"""Pure train and eval steps; gradient accumulation over micro-batches. No I/O here."""
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from mlm_jax import pruning
from mlm_jax.objectives.objective import LossOutput
from mlm_jax.state import TrainState

LossFn = Callable[..., LossOutput]  # loss_fn(params, batch, rng, train[, objective_state, frozen])


def add_metrics(a: dict, b: dict) -> dict:
  return jax.tree.map(jnp.add, a, b)


def split_micro_batches(batch: dict, num_micro: int) -> dict:
  """(B, ...) -> (M, B/M, ...), micro-batch j taking rows j, j+M, ...: every data shard
  contributes equally to every micro-batch, so no rows move between devices."""
  def split(x):
    b = x.shape[0] // num_micro
    return x.reshape(b, num_micro, *x.shape[1:]).swapaxes(0, 1)
  return jax.tree.map(split, batch)


def _step_metrics(out: LossOutput) -> dict:
  """The objective's metrics plus the loss it differentiated, as (sum, count)."""
  return {**out.metrics, 'loss': (out.loss, jnp.ones(()))}


def call_loss(loss_fn: LossFn, params, batch, rng, train: bool, objective_state,
              frozen=None) -> LossOutput:
  """Only a stateful objective's loss is handed its state (objective_state=...), and only an
  objective with a frozen model (a distillation teacher) its parameters (frozen=...)."""
  extra = {}
  if objective_state:
    extra['objective_state'] = objective_state
  if frozen is not None:
    extra['frozen'] = frozen
  return loss_fn(params, batch, rng, train=train, **extra)


def loss_and_grads(loss_fn: LossFn, params, batch, rng, num_micro: int, objective_state=None,
                   frozen=None):
  """(mean gradients, summed metrics, mean loss, objective state) over NUM_MICRO micro-batches;
  a stateful objective's state is updated after each micro-batch in turn. FROZEN: a frozen
  model's parameters (no gradient is taken with respect to them)."""
  objective_state = {} if objective_state is None else objective_state

  def objective(p, b, r, s):
    out = call_loss(loss_fn, p, b, r, True, s, frozen)
    return out.loss, (_step_metrics(out), s if out.new_state is None else out.new_state)

  grad_fn = jax.value_and_grad(objective, has_aux=True)
  if num_micro == 1:
    (loss, (metrics, objective_state)), grads = grad_fn(params, batch, rng, objective_state)
    return grads, metrics, loss, objective_state

  micro = split_micro_batches(batch, num_micro)

  def body(carry, xs):
    grads_acc, metrics_acc, loss_acc, s = carry
    i, mb = xs
    (loss, (metrics, s)), grads = grad_fn(params, mb, jax.random.fold_in(rng, i), s)
    return (add_metrics(grads_acc, grads), add_metrics(metrics_acc, metrics),
            loss_acc + loss, s), None

  first = jax.tree.map(lambda x: x[0], micro)
  (_, (m_shapes, _)), g_shapes = jax.eval_shape(grad_fn, params, first, rng, objective_state)
  zeros = lambda t: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), t)  # noqa: E731
  (grads, metrics, loss, objective_state), _ = jax.lax.scan(
      body, (zeros(g_shapes), zeros(m_shapes), jnp.zeros(()), objective_state),
      (jnp.arange(num_micro), micro))
  # Each micro-batch loss is a mean; the step's gradient is the mean over micro-batches.
  return (jax.tree.map(lambda g: g / num_micro, grads), metrics, loss / num_micro,
          objective_state)


def train_step(state: TrainState, batch: dict, rng: jax.Array, frozen=None, update_mask=None,
               *, loss_fn: LossFn, tx: optax.GradientTransformation, schedule: optax.Schedule,
               num_micro: int = 1, prune_cfg=None) -> tuple[TrainState, dict]:
  """One optimizer step. Randomness is fold_in(rng, step): a resumed run draws the same masks.
  PRUNE_CFG (the train config, when train.prune_sparsity > 0): gradual magnitude pruning.
  UPDATE_MASK (a bool tree like the parameters): only its entries change (LT-SFT)."""
  step_rng = jax.random.fold_in(rng, state.step)
  grads, metrics, loss, objective_state = loss_and_grads(loss_fn, state.params, batch, step_rng,
                                                         num_micro, state.objective_state, frozen)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  if prune_cfg is not None:
    params = pruning.after_update(state.params, params, state.step + 1, prune_cfg)
  if update_mask is not None:  # entries outside the mask keep their values, decay included
    params = jax.tree.map(lambda o, n, m: jnp.where(m, n, o).astype(n.dtype), state.params,
                          params, update_mask)
  grad_norm = optax.tree.norm(grads)
  # A NaN/Inf loss or gradient skips the update: parameters and optimizer state stay finite.
  finite = jnp.isfinite(grad_norm) & jnp.isfinite(loss)
  keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)  # noqa
  metrics = dict(metrics)
  metrics['grad_norm'] = (grad_norm, jnp.ones(()))
  metrics['learning_rate'] = (schedule(state.step), jnp.ones(()))
  if prune_cfg is not None:
    metrics.update(pruning.sparsity_metrics(params))
  new_state = state.replace(
      step=state.step + 1, params=keep(params, state.params),
      opt_state=keep(opt_state, state.opt_state),
      objective_state=keep(objective_state, state.objective_state),
      nonfinite_steps=state.nonfinite_steps + (~finite).astype(jnp.int32),
      first_nonfinite_step=jnp.where((state.first_nonfinite_step < 0) & ~finite,
                                     state.step + 1, state.first_nonfinite_step))
  return new_state, metrics


def eval_step(params: Any, batch: dict, rng: jax.Array, objective_state=None, frozen=None, *,
              loss_fn: LossFn) -> dict:
  """Metrics (sum, count) of one batch; 'label_counts' holds the target histogram, if any.
  A stateful objective reads its state (as trained so far) and leaves it unchanged."""
  out = call_loss(loss_fn, params, batch, rng, False, objective_state, frozen)
  metrics = _step_metrics(out)
  if out.label_counts is not None:
    metrics['label_counts'] = out.label_counts
  return metrics
