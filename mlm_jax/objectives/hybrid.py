"""GPT-BERT (Charpentier & Samuel, BabyLM 2024, "GPT or BERT: why not both?"): one model trained
on masked and causal rows at once, both as next-token prediction.

- Masked rows: the input is masked as for MLM (objective.masking, mask_rate, 80/10/10) and
  attention is bidirectional; the output at position i predicts the original token at i + 1
  when that token was chosen ("masked next-token prediction"), so both kinds of row use the
  same shifted head.
- Causal rows: the original input under causal attention; every position predicts the next
  token of its segment.
- objective.causal_fraction of each batch's rows are causal (the authors' code: 1 of 16 GPUs
  runs the causal data, so 1:15); the loss weights the causal and masked means by their
  share of rows, as averaging one mean per GPU does.

Per-row attention comes from model.attention_pattern=prefix with a prefix of 0 (causal) or the
whole row (bidirectional). Readings of ours: the first round(causal_fraction x rows) rows of
every (micro-)batch are the causal ones, at least one of each kind; the authors' mask-rate
schedule (0.3 falling to 0.15), span masking of 1-3 tokens and sequence-length growth are not
reproduced here (mask_rate is constant; objective.masking=spans gives SpanBERT's spans).
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp

from mlm_jax.config_lib import require
from mlm_jax.objectives import causal, masking, mlm
from mlm_jax.objectives.objective import MASKED_LM, LossOutput, Objective


def causal_rows(batch_size: int, fraction: float) -> int:
  """Rows of a batch that are causal: round(fraction x rows), at least one of each kind."""
  return min(batch_size - 1, max(1, round(batch_size * fraction))) if batch_size > 1 else 0


def make_loss(model, objective_cfg, tokens, word_start_V=None) -> Callable[..., Any]:
  spec = mlm.masking_spec(objective_cfg)
  fraction = objective_cfg.causal_fraction

  def loss_fn(params, batch, rng, train: bool = True) -> LossOutput:
    mask_rng, dropout_rng = jax.random.split(rng)
    ids_BL, seg_BL, pos_BL = batch['input_ids'], batch['segment_ids'], batch['positions']
    B, L = ids_BL.shape
    n_causal = causal_rows(B, fraction)
    causal_B = jnp.arange(B) < n_causal
    m = masking.mask_batch(mask_rng, ids_BL, seg_BL, tokens, spec, word_start_V,
                           batch.get('unit_tags'))
    chosen_BL = jnp.zeros((B, L), bool).at[jnp.arange(B)[:, None], m['masked_positions']].max(
        m['masked_weights'] > 0)
    inputs_BL = jnp.where(causal_B[:, None], ids_BL, m['input_ids'])
    targets_BL, next_w_BL = causal.next_token_targets(ids_BL, seg_BL)  # the originals
    chosen_next_BL = jnp.concatenate([chosen_BL[:, 1:], jnp.zeros_like(chosen_BL[:, :1])], 1)
    causal_w_BL = next_w_BL * causal_B[:, None]
    masked_w_BL = next_w_BL * chosen_next_BL * ~causal_B[:, None]
    prefix_len_B = jnp.where(causal_B, 0, L)  # prefix 0: causal; the whole row: bidirectional
    _, logits_BLV = model.apply({'params': params}, inputs_BL, seg_BL, pos_BL, None,
                                deterministic=not train, prefix_len_B=prefix_len_B,
                                rngs={'dropout': dropout_rng})
    causal_loss, cm = mlm.mlm_metrics(logits_BLV, targets_BL, causal_w_BL)
    masked_loss, mm = mlm.mlm_metrics(logits_BLV, targets_BL, masked_w_BL)
    share = n_causal / B
    loss = share * causal_loss + (1 - share) * masked_loss
    metrics = {'causal_loss': cm['mlm_loss'], 'causal_accuracy': cm['mlm_accuracy'],
               'masked_loss': mm['mlm_loss'], 'masked_accuracy': mm['mlm_accuracy']}
    counts = None if train else mlm.label_counts(targets_BL, masked_w_BL, logits_BLV.shape[-1])
    return LossOutput(loss, metrics, counts)

  return loss_fn


def validate(objective_cfg) -> None:
  f = objective_cfg.causal_fraction
  require(0 < f < 1, f'objective.causal_fraction={f} must be in (0, 1)')


OBJECTIVE = Objective(make_loss=make_loss, needs=MASKED_LM, headline=lambda o: 'masked_accuracy',
                      flops_per_token=causal.flops_per_token, validate=validate,
                      perplexity_of='causal_loss', attention=('prefix',))
