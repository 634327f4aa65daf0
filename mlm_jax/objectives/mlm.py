"""Masked language modelling loss (BERT, RoBERTa, MosaicBERT masking rates)."""
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from mlm_jax.objectives import masking


def masking_spec(objective_cfg) -> masking.MaskingSpec:
  o = objective_cfg
  return masking.MaskingSpec(o.mask_rate, o.max_predictions, o.mask_token_fraction,
                             o.random_token_fraction)


def mlm_metrics(logits_BPV, targets_BP, weights_BP, with_label_counts: bool) -> tuple[jax.Array, dict]:
  """Mean weighted cross-entropy, plus metric (sum, count) pairs."""
  xent_BP = optax.softmax_cross_entropy_with_integer_labels(logits_BPV, targets_BP)
  total = weights_BP.sum()
  loss = (xent_BP * weights_BP).sum() / jnp.maximum(total, 1.0)
  correct = ((logits_BPV.argmax(-1) == targets_BP) * weights_BP).sum()
  metrics = {'loss': (loss * total, total), 'mlm_loss': ((xent_BP * weights_BP).sum(), total),
             'mlm_accuracy': (correct, total)}
  if with_label_counts:  # histogram of targets: the most-frequent-token baseline
    vocab = logits_BPV.shape[-1]
    metrics['label_counts'] = jnp.zeros(vocab, jnp.float32).at[targets_BP.reshape(-1)].add(
        weights_BP.reshape(-1))
  return loss, metrics


def make_loss(model, objective_cfg, tokens: masking.SpecialTokens,
              word_start_V=None) -> Callable[..., Any]:
  """loss_fn(params, batch, rng, train) -> (loss, metrics); metrics are (sum, count) pairs."""
  spec = masking_spec(objective_cfg)

  def loss_fn(params, batch, rng, train: bool = True):
    mask_rng, dropout_rng = jax.random.split(rng)
    m = masking.mask_batch(mask_rng, batch['input_ids'], batch['segment_ids'], tokens, spec,
                           word_start_V)
    _, logits_BPV = model.apply({'params': params}, m['input_ids'], batch['segment_ids'],
                                batch['positions'], m['masked_positions'], deterministic=not train,
                                rngs={'dropout': dropout_rng})
    return mlm_metrics(logits_BPV, m['masked_ids'], m['masked_weights'], not train)

  return loss_fn
