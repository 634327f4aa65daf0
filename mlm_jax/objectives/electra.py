"""ELECTRA replaced-token detection (Clark et al., 2020).

Mask (config mix; ELECTRA's is 85% [MASK] / 15% kept) -> generator MLM at the masked positions
-> sample a replacement at every masked position from the generator (Gumbel-max, under
stop_gradient) -> the discriminator labels every real token: replaced (1) only if the sampled
token differs from the original -> loss = generator MLM + disc_weight x discriminator BCE.

The helpers (sample, substitute, detection loss) are shared with the MCL courses.
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from mlm_jax import metrics as metrics_lib
from mlm_jax.config_lib import require
from mlm_jax.objectives import masking, mlm
from mlm_jax.objectives.objective import GENERATOR_DISCRIMINATOR, LossOutput, Objective


def sampling_mask(tokens: masking.SpecialTokens, model_vocab: int) -> jax.Array:
  """(V,) True where a token may be sampled: in the tokenizer's vocabulary and not special."""
  allowed_V = jnp.arange(model_vocab) < tokens.vocab_size
  return allowed_V.at[jnp.array(tokens.special)].set(False)


def sample_tokens(rng, logits_BPV, allowed_V) -> jax.Array:
  """One Gumbel-max sample per position (softmax temperature 1); no gradient flows back."""
  logits_BPV = jax.lax.stop_gradient(logits_BPV.astype(jnp.float32))
  noisy_BPV = logits_BPV + jax.random.gumbel(rng, logits_BPV.shape, jnp.float32)
  return jnp.argmax(jnp.where(allowed_V, noisy_BPV, -jnp.inf), axis=-1).astype(jnp.int32)


def substitute(ids_BL, positions_BP, new_BP, weights_BP) -> jax.Array:
  """ids with new_BP written at the weighted positions (weight-0 slots leave ids unchanged)."""
  rows_B1 = jnp.arange(ids_BL.shape[0])[:, None]
  # Weight-0 slots point out of range and are dropped, so they never collide with a real write.
  target_BP = jnp.where(weights_BP > 0, positions_BP, ids_BL.shape[1])
  return jnp.asarray(ids_BL).at[rows_B1, target_BP].set(new_BP.astype(ids_BL.dtype), mode='drop')


def replaced_labels(original_BL, corrupted_BL, segment_ids_BL) -> jax.Array:
  """1.0 where a real (non-pad) token differs from the original; a sample equal to it is 0."""
  return ((corrupted_BL != original_BL) & (segment_ids_BL != 0)).astype(jnp.float32)


def detection_loss(logits_BL, labels_BL, weights_BL, prefix: str = 'disc') -> tuple[jax.Array, dict]:
  """Mean sigmoid BCE over weighted tokens; accuracy, precision and recall on replaced tokens,
  and the baselines a discriminator that has learned nothing matches: baseline_<prefix>_accuracy
  (answering "original" everywhere) and baseline_<prefix>_loss (the best constant answer's)."""
  bce_BL = optax.sigmoid_binary_cross_entropy(logits_BL, labels_BL)
  n = weights_BL.sum()
  loss = (bce_BL * weights_BL).sum() / jnp.maximum(n, 1.0)
  pred_BL = (logits_BL > 0).astype(jnp.float32)
  true_pos = (pred_BL * labels_BL * weights_BL).sum()
  metrics = {
      f'{prefix}_loss': ((bce_BL * weights_BL).sum(), n),
      f'{prefix}_accuracy': (((pred_BL == labels_BL) * weights_BL).sum(), n),
      f'{prefix}_precision': (true_pos, (pred_BL * weights_BL).sum()),
      f'{prefix}_recall': (true_pos, (labels_BL * weights_BL).sum()),
      f'{prefix}_replaced_fraction': ((labels_BL * weights_BL).sum(), n),
      f'baseline_{prefix}_accuracy': (((1 - labels_BL) * weights_BL).sum(), n),
      f'baseline_{prefix}_loss': metrics_lib.constant_answer_loss(labels_BL, weights_BL),
  }
  return loss, metrics


def generator_logits(model, params, ids_BL, batch, masked_positions_BP, train: bool, rng):
  return model.apply({'params': params}, ids_BL, batch['segment_ids'], batch['positions'],
                     masked_positions_BP, deterministic=not train, rngs={'dropout': rng},
                     branch='generator')


def discriminator_logits(model, params, ids_BL, segment_ids_BL, positions_BL, train: bool, rng):
  return model.apply({'params': params}, ids_BL, segment_ids_BL, positions_BL,
                     deterministic=not train, rngs={'dropout': rng}, branch='discriminator')


def replaced_token_detection(model, params, batch, rng, train, tokens, spec, word_start_V,
                             allowed_V, prefix: str = 'disc'):
  """ELECTRA's course. Returns (gen_loss, disc_loss, metrics, intermediates)."""
  mask_rng, gen_rng, sample_rng, disc_rng = jax.random.split(rng, 4)
  ids_BL, seg_BL = batch['input_ids'], batch['segment_ids']
  m = masking.mask_batch(mask_rng, ids_BL, seg_BL, tokens, spec, word_start_V,
                           batch.get('unit_tags'))
  gen_BPV = generator_logits(model, params, m['input_ids'], batch, m['masked_positions'], train,
                             gen_rng)
  gen_loss, metrics = mlm.mlm_metrics(gen_BPV, m['masked_ids'], m['masked_weights'])
  sampled_BP = sample_tokens(sample_rng, gen_BPV, allowed_V)
  corrupted_BL = substitute(ids_BL, m['masked_positions'], sampled_BP, m['masked_weights'])
  labels_BL = replaced_labels(ids_BL, corrupted_BL, seg_BL)
  disc_BL = discriminator_logits(model, params, corrupted_BL, seg_BL, batch['positions'], train,
                                 disc_rng)
  disc_loss, disc_metrics = detection_loss(disc_BL, labels_BL, (seg_BL != 0).astype(jnp.float32),
                                           prefix)
  metrics.update(disc_metrics)
  return gen_loss, disc_loss, metrics, dict(mask=m, corrupted=corrupted_BL, disc_logits=disc_BL)


def make_loss(model, objective_cfg, tokens: masking.SpecialTokens,
              word_start_V=None) -> Callable[..., Any]:
  """loss_fn(params, batch, rng, train) -> LossOutput; metrics are (sum, count) pairs."""
  spec = mlm.masking_spec(objective_cfg)
  allowed_V = sampling_mask(tokens, model.cfg.vocab_size)
  w = objective_cfg.disc_weight

  def loss_fn(params, batch, rng, train: bool = True) -> LossOutput:
    gen_loss, disc_loss, metrics, mid = replaced_token_detection(
        model, params, batch, rng, train, tokens, spec, word_start_V, allowed_V)
    metrics['gen_loss'] = (gen_loss, jnp.ones(()))
    m = mid['mask']
    counts = None if train else mlm.label_counts(m['masked_ids'], m['masked_weights'],
                                                 model.cfg.vocab_size)
    return LossOutput(gen_loss + w * disc_loss, metrics, counts)

  return loss_fn


def flops_per_token(model_cfg, objective_cfg, seq_len: int, passes: dict) -> float:
  """Generator and discriminator, each one trained pass (sampling adds no pass)."""
  del model_cfg
  return 3 * (generator_pass(passes, objective_cfg, seq_len) + discriminator_pass(passes))


def generator_pass(passes: dict, objective_cfg, seq_len: int) -> float:
  """Forward FLOPs per token of one generator pass with its head at max_predictions slots."""
  return (passes['generator'] + passes['generator_head_per_prediction']
          * masking.slots(objective_cfg, seq_len) / seq_len)


def discriminator_pass(passes: dict) -> float:
  return passes['discriminator'] + passes['discriminator_head']


def validate_disc_weight(objective_cfg) -> None:
  """The discriminator's loss weight (ELECTRA's lambda, 50) must be positive: at 0 or below the
  encoder kept for fine-tuning learns nothing or is trained to fail."""
  require(objective_cfg.disc_weight > 0,
          f'objective.disc_weight={objective_cfg.disc_weight}: must be > 0 (ELECTRA: 50)')


OBJECTIVE = Objective(make_loss=make_loss, needs=GENERATOR_DISCRIMINATOR,
                      validate=validate_disc_weight,
                      headline=lambda o: 'disc_accuracy', flops_per_token=flops_per_token,
                      perplexity_of='mlm_loss')
