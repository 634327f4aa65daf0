"""The optax chain: clipping, AdamW or LAMB, warmup + decay schedule, weight-decay mask."""
import jax
import ml_collections
import optax

DECAYED_LEAVES = ('kernel', 'embedding')  # biases and LayerNorm scale/bias are not decayed


def schedule(train_cfg: ml_collections.ConfigDict) -> optax.Schedule:
  t = train_cfg
  peak, end = t.learning_rate, t.learning_rate * t.end_lr_fraction
  decay_steps = max(t.steps - t.warmup_steps, 1)
  if t.decay == 'cosine':
    after = optax.cosine_decay_schedule(peak, decay_steps, alpha=t.end_lr_fraction)
  elif t.decay == 'linear':
    after = optax.linear_schedule(peak, end, decay_steps)
  else:
    after = optax.constant_schedule(peak)
  if not t.warmup_steps:
    return after
  return optax.join_schedules([optax.linear_schedule(0.0, peak, t.warmup_steps), after],
                              [t.warmup_steps])


def decay_mask(params):
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], 'key', None) in DECAYED_LEAVES, params)


def make_optimizer(train_cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
  t = train_cfg
  lr = schedule(t)
  if t.optimizer == 'lamb':
    opt = optax.lamb(lr, b1=t.adam_b1, b2=t.adam_b2, eps=t.adam_eps, weight_decay=t.weight_decay,
                     mask=decay_mask)
  else:
    opt = optax.adamw(lr, b1=t.adam_b1, b2=t.adam_b2, eps=t.adam_eps, weight_decay=t.weight_decay,
                      mask=decay_mask)
  if t.grad_clip_norm > 0:
    opt = optax.chain(optax.clip_by_global_norm(t.grad_clip_norm), opt)
  return opt
