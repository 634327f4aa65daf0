"""Masked language modelling loss (BERT, RoBERTa, MosaicBERT masking rates)."""
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from mlm_jax.objectives import masking
from mlm_jax.objectives.objective import MASKED_LM, LossOutput, Objective


def masking_spec(objective_cfg) -> masking.MaskingSpec:
  o = objective_cfg
  return masking.MaskingSpec(o.mask_rate, o.max_predictions, o.mask_token_fraction,
                             o.random_token_fraction, o.masking, o.span_p, o.span_max_words,
                             o.tag_rate)


def mlm_metrics(logits_BPV, targets_BP, weights_BP) -> tuple[jax.Array, dict]:
  """Mean weighted cross-entropy, plus metric (sum, count) pairs."""
  xent_BP = optax.softmax_cross_entropy_with_integer_labels(logits_BPV, targets_BP)
  total = weights_BP.sum()
  loss = (xent_BP * weights_BP).sum() / jnp.maximum(total, 1.0)
  correct = ((logits_BPV.argmax(-1) == targets_BP) * weights_BP).sum()
  metrics = {'mlm_loss': ((xent_BP * weights_BP).sum(), total),
             'mlm_accuracy': (correct, total)}
  return loss, metrics


def label_counts(targets_BP, weights_BP, vocab: int) -> jax.Array:
  """Histogram of prediction targets: the most-frequent-token baseline."""
  return jnp.zeros(vocab, jnp.float32).at[targets_BP.reshape(-1)].add(weights_BP.reshape(-1))


def make_loss(model, objective_cfg, tokens: masking.SpecialTokens,
              word_start_V=None) -> Callable[..., Any]:
  """loss_fn(params, batch, rng, train) -> LossOutput; metrics are (sum, count) pairs."""
  spec = masking_spec(objective_cfg)

  def loss_fn(params, batch, rng, train: bool = True) -> LossOutput:
    mask_rng, dropout_rng = jax.random.split(rng)
    m = masking.mask_batch(mask_rng, batch['input_ids'], batch['segment_ids'], tokens, spec,
                           word_start_V, batch.get('unit_tags'))
    _, logits_BPV = model.apply({'params': params}, m['input_ids'], batch['segment_ids'],
                                batch['positions'], m['masked_positions'], deterministic=not train,
                                rngs={'dropout': dropout_rng})
    loss, metrics = mlm_metrics(logits_BPV, m['masked_ids'], m['masked_weights'])
    counts = None if train else label_counts(m['masked_ids'], m['masked_weights'],
                                             logits_BPV.shape[-1])
    return LossOutput(loss, metrics, counts)

  return loss_fn


def flops_per_token(model_cfg, objective_cfg, seq_len: int, passes: dict) -> float:
  """One trained pass: the encoder, and the MLM head at max_predictions slots per row."""
  del model_cfg
  head = passes['mlm_head_per_prediction'] * masking.slots(objective_cfg, seq_len) / seq_len
  return 3 * (passes['encoder'] + head)


OBJECTIVE = Objective(make_loss=make_loss, needs=MASKED_LM, headline=lambda o: 'mlm_accuracy',
                      flops_per_token=flops_per_token, perplexity_of='mlm_loss')
