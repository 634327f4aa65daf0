"""The optax chain: clipping, AdamW or LAMB, warmup + decay schedule, weight-decay mask."""
import jax
import ml_collections
import optax

from mlm_jax import pruning
from mlm_jax.config_lib import ConfigError

# Biases and LayerNorm scale/bias are not decayed; SLTrain's factors and sparse values (the parts
# of a kernel, models/low_rank.py) are.
DECAYED_LEAVES = ('kernel', 'embedding', 'sl_in', 'sl_out', 'sl_values')


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


def schedule_warnings(train_cfg) -> list[str]:
  """Settings that train but are likely a slip: a warmup longer than the run, so the rate never
  reaches its peak (configs/bert.py's 10,000 warmup steps under a short --config.train.steps)."""
  t = train_cfg
  if t.warmup_steps > t.steps and t.learning_rate > 0:
    top = float(schedule(t)(t.steps))  # the schedule's own value, not a second formula
    return [f'warning: train.warmup_steps={t.warmup_steps} > train.steps={t.steps}: the rate '
            f'stops at {top:.3g}, never reaching train.learning_rate={t.learning_rate:g}']
  return []


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


def validate(train_cfg) -> None:
  """The train.* keys: steps, schedule, optimiser, batch and accumulation, logging."""
  t = train_cfg
  checks = [
      (t.steps > 0, f'train.steps={t.steps} must be positive'),
      (t.stop_at_step >= 0, f'train.stop_at_step={t.stop_at_step} must be >= 0'),
      (t.learning_rate >= 0, f'train.learning_rate={t.learning_rate} must be >= 0'),
      (t.warmup_steps >= 0, f'train.warmup_steps={t.warmup_steps} must be >= 0'),
      (0 <= t.end_lr_fraction <= 1, f'train.end_lr_fraction={t.end_lr_fraction} must be in [0, 1]'),
      (0 <= t.adam_b1 < 1, f'train.adam_b1={t.adam_b1} must be in [0, 1)'),
      (0 <= t.adam_b2 < 1, f'train.adam_b2={t.adam_b2} must be in [0, 1)'),
      (t.adam_eps > 0, f'train.adam_eps={t.adam_eps} must be positive'),
      (t.weight_decay >= 0, f'train.weight_decay={t.weight_decay} must be >= 0'),
      (t.grad_clip_norm >= 0, f'train.grad_clip_norm={t.grad_clip_norm} must be >= 0 (0: off)'),
      (t.decay in ('linear', 'cosine', 'constant'),
       f'train.decay={t.decay!r} must be linear, cosine or constant'),
      (t.optimizer in ('adamw', 'lamb'), f'train.optimizer={t.optimizer!r} must be adamw or lamb'),
      (t.nonfinite_policy in ('skip', 'stop'),
       f'train.nonfinite_policy={t.nonfinite_policy!r} must be skip or stop'),
      (t.log_every_steps > 0, f'train.log_every_steps={t.log_every_steps} must be positive'),
      (t.batch_size > 0, f'train.batch_size={t.batch_size} must be positive'),
      (t.micro_batches > 0, f'train.micro_batches={t.micro_batches} must be positive'),
  ]
  for ok, message in checks + pruning.validate(t):
    if not ok:
      raise ConfigError(message)
  if t.batch_size % t.micro_batches:
    raise ConfigError(f'train.micro_batches={t.micro_batches} must divide '
                      f'train.batch_size={t.batch_size}')
