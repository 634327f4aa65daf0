"""Self-evolution learning (SE: Zhong et al., "Self-Evolution Learning for Discriminative
Language Model Pretraining", Findings of ACL 2023; the Vega v2 report's "self-evolution"),
meant for continued pre-training from an MLM checkpoint (init_from.workdir), as the paper does.

Each step, on the same batch:
1. Self-questioning: the current model, without dropout and without gradient, reads the
   *unmasked* row; a token is hard when the loss of its own id there exceeds
   objective.se_threshold (the authors' code: 0.1 nats).
2. Masking: hard tokens become [MASK] (all of them, no random or kept ones, as the authors'
   code does), up to the row's budget round(mask_rate x candidates); hardest first when there
   are more; when there are fewer, the rest of the budget is random tokens with the usual
   80/10/10 (the code's fallback to random masking).
3. Self-evolution training with rectified smooth labels (token-specific label smoothing): the
   target at a masked position is (1 - a) one-hot + a p_ref, p_ref the model's own step-1
   distribution at that position, a = objective.se_smoothing (the code: 0.1).

Readings of ours: the authors run step 1 as a separate offline pass over the corpus with the
starting checkpoint and store the hard positions; we ask the current model in the same step
(so hardness follows training, the data need no side files, and resuming is exact), and the
budget caps how many hard tokens one row masks (the code masks every hard token, however many,
which static shapes cannot express).
Reported: mlm_loss / mlm_accuracy against the one-hot targets (comparable with MLM),
se_loss (the smoothed loss that trains), hard_fraction (masked tokens that were hard).
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from mlm_jax.config_lib import require
from mlm_jax.objectives import masking, mlm
from mlm_jax.objectives.objective import MASKED_LM, LossOutput, Objective


def choose_hard_first(rng, nll_BL, candidates_BL, threshold: float, budget_B):
  """(chosen (B, L), hard (B, L)): hard candidates by descending loss, then random ones,
  budget_B per row."""
  hard_BL = candidates_BL & (nll_BL > threshold)
  key_BL = jnp.where(hard_BL, 2.0 + nll_BL, jax.random.uniform(rng, nll_BL.shape))
  key_BL = jnp.where(candidates_BL, key_BL, -1.0)
  rank_BL = jnp.argsort(jnp.argsort(-key_BL, axis=1), axis=1)
  chosen_BL = candidates_BL & (rank_BL < budget_B[:, None])
  return chosen_BL, hard_BL & chosen_BL


def make_loss(model, objective_cfg, tokens, word_start_V=None) -> Callable[..., Any]:
  del word_start_V
  o = objective_cfg
  spec = mlm.masking_spec(o)

  def loss_fn(params, batch, rng, train: bool = True) -> LossOutput:
    choose_rng, mix_rng, random_rng, dropout_rng = jax.random.split(rng, 4)
    ids_BL, seg_BL, pos_BL = batch['input_ids'], batch['segment_ids'], batch['positions']
    L = ids_BL.shape[1]
    P = masking.slots(o, L)
    _, ref_BLV = model.apply({'params': params}, ids_BL, seg_BL, pos_BL, None, deterministic=True)
    ref_BLV = jax.lax.stop_gradient(ref_BLV)
    nll_BL = optax.softmax_cross_entropy_with_integer_labels(ref_BLV, ids_BL)
    cand_BL = masking.candidates(ids_BL, seg_BL, tokens)
    chosen_BL, hard_BL = choose_hard_first(choose_rng, nll_BL, cand_BL, o.se_threshold,
                                           masking.row_budget(cand_BL, o.mask_rate, P))
    u_BL = jnp.where(hard_BL, 0.0, jax.random.uniform(mix_rng, ids_BL.shape))  # hard: [MASK]
    m = masking.corrupt(random_rng, ids_BL, chosen_BL, u_BL, tokens, spec, P)
    _, logits_BPV = model.apply({'params': params}, m['input_ids'], seg_BL, pos_BL,
                                m['masked_positions'], deterministic=not train,
                                rngs={'dropout': dropout_rng})
    _, metrics = mlm.mlm_metrics(logits_BPV, m['masked_ids'], m['masked_weights'])
    at = m['masked_positions'][..., None]
    p_ref_BPV = jax.nn.softmax(jnp.take_along_axis(ref_BLV, at, axis=1), axis=-1)
    V = logits_BPV.shape[-1]
    target_BPV = (1 - o.se_smoothing) * jax.nn.one_hot(m['masked_ids'], V) + o.se_smoothing * p_ref_BPV
    w_BP = m['masked_weights']
    se_BP = optax.softmax_cross_entropy(logits_BPV, target_BPV)
    total = jnp.maximum(w_BP.sum(), 1.0)
    metrics['se_loss'] = ((se_BP * w_BP).sum(), w_BP.sum())
    hard_BP = jnp.take_along_axis(hard_BL, m['masked_positions'], axis=1)
    metrics['hard_fraction'] = ((hard_BP * w_BP).sum(), w_BP.sum())
    counts = None if train else mlm.label_counts(m['masked_ids'], w_BP, V)
    return LossOutput((se_BP * w_BP).sum() / total, metrics, counts)

  return loss_fn


def validate(objective_cfg) -> None:
  o = objective_cfg
  require(0 <= o.se_smoothing <= 1, f'objective.se_smoothing={o.se_smoothing} must be in [0, 1]')
  require(o.se_threshold >= 0, f'objective.se_threshold={o.se_threshold} must be >= 0')
  require(o.masking == 'tokens' and not o.whole_word,
          'objective.masking / objective.whole_word: self_evolution chooses single hard tokens')


def flops_per_token(model_cfg, objective_cfg, seq_len: int, passes: dict) -> float:
  """The self-questioning pass (forward, the MLM head at every position) plus one trained MLM
  pass at the prediction slots."""
  question = passes['encoder'] + passes['mlm_head_per_prediction']
  return question + mlm.flops_per_token(model_cfg, objective_cfg, seq_len, passes)


OBJECTIVE = Objective(make_loss=make_loss, needs=MASKED_LM, headline=lambda o: 'mlm_accuracy',
                      flops_per_token=flops_per_token, validate=validate,
                      perplexity_of='mlm_loss')
