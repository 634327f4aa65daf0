"""Left-to-right objectives on the same encoder code, with its attention pattern set to match:

- clm: causal language modelling (GPT): every position predicts the next token of its own
  packed segment (the last real token predicts [SEP], the end of the document), under
  model.attention_pattern=causal.
- prefix_lm: prefix language modelling (T5's and UniLM's prefix LM; Wang et al. 2022 compare it
  with causal and masked LM): the first `prefix` positions of each segment attend to each other
  bidirectionally and are not predicted; the rest is causal and predicted. Under
  model.attention_pattern=prefix.

- meap: Mask-Enhanced Autoregressive Prediction (Zhuang et al. 2025): objective.mask_rate
  (MEAP: 0.15) of the input tokens become [MASK] (never random, never kept), then plain
  next-token prediction of the *original* tokens at every position, masked or not, under
  model.attention_pattern=causal (the authors' scitix/MEAP pre-training code: single tokens, a
  fixed count per row, targets taken before masking, nothing left out of the loss).

Readings of ours (packed rows hold several documents, the papers' rows one): the prefix length
is drawn per row, uniformly in [1, data.seq_len - 1] (T5's decoder-only prefix LM draws the
split the same way per example), and applied to each segment of the row through its positions
(which restart per segment); a segment shorter than it is all prefix and adds no loss. MEAP's
positions are drawn per row among the real, non-special tokens, round(rate x candidates) of
them (the authors' code draws one set of positions for the whole batch, from 51 seeds that
repeat; we do not copy that).
Reported per token: lm_loss (its exp() is the perplexity), lm_accuracy (next-token top-1).
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp

from mlm_jax.objectives import masking, mlm
from mlm_jax.objectives.objective import MASKED_LM, LossOutput, Objective


def next_token_targets(input_ids_BL, segment_ids_BL) -> tuple[jax.Array, jax.Array]:
  """(targets, weights) (B, L): position t predicts token t + 1 of the same (real) segment."""
  targets_BL = jnp.concatenate([input_ids_BL[:, 1:], jnp.zeros_like(input_ids_BL[:, :1])], 1)
  same_BL = (segment_ids_BL[:, 1:] == segment_ids_BL[:, :-1]) & (segment_ids_BL[:, 1:] != 0)
  weights_BL = jnp.concatenate([same_BL, jnp.zeros_like(same_BL[:, :1])], 1)
  return targets_BL, weights_BL.astype(jnp.float32)


def draw_prefix(rng, batch_size: int, seq_len: int) -> jax.Array:
  """Prefix length per row, uniform in [1, seq_len - 1]."""
  return jax.random.randint(rng, (batch_size,), 1, seq_len)


def lm_metrics(logits_BLV, targets_BL, weights_BL) -> tuple[jax.Array, dict]:
  loss, m = mlm.mlm_metrics(logits_BLV, targets_BL, weights_BL)
  return loss, {'lm_loss': m['mlm_loss'], 'lm_accuracy': m['mlm_accuracy']}


def make_clm_loss(model, objective_cfg, tokens, word_start_V=None) -> Callable[..., Any]:
  del objective_cfg, tokens, word_start_V
  return _make_loss(model, prefix=False)


def make_prefix_lm_loss(model, objective_cfg, tokens, word_start_V=None) -> Callable[..., Any]:
  del objective_cfg, tokens, word_start_V
  return _make_loss(model, prefix=True)


def make_meap_loss(model, objective_cfg, tokens, word_start_V=None) -> Callable[..., Any]:
  del word_start_V
  return _make_loss(model, prefix=False, mask_rate=objective_cfg.mask_rate, tokens=tokens)


def mask_inputs(rng, input_ids_BL, segment_ids_BL, tokens, rate: float) -> jax.Array:
  """MEAP's corruption: round(rate x candidates) real, non-special tokens per row -> [MASK]."""
  B, L = input_ids_BL.shape
  candidates_BL = masking.candidates(input_ids_BL, segment_ids_BL, tokens)
  chosen_BL = masking.choose_positions(rng, candidates_BL, jnp.broadcast_to(jnp.arange(L), (B, L)),
                                       rate, L, whole_words=False)
  return jnp.where(chosen_BL, tokens.mask, input_ids_BL).astype(input_ids_BL.dtype)


def _make_loss(model, prefix: bool, mask_rate: float = 0.0, tokens=None) -> Callable[..., Any]:
  """loss_fn(params, batch, rng, train) -> LossOutput."""

  def loss_fn(params, batch, rng, train: bool = True) -> LossOutput:
    prefix_rng, dropout_rng, mask_rng = jax.random.split(rng, 3)
    ids_BL, seg_BL, pos_BL = batch['input_ids'], batch['segment_ids'], batch['positions']
    targets_BL, weights_BL = next_token_targets(ids_BL, seg_BL)  # the originals
    if mask_rate:
      ids_BL = mask_inputs(mask_rng, ids_BL, seg_BL, tokens, mask_rate)
    prefix_len_B = None
    if prefix:  # predict only what lies after the prefix: target position >= prefix length
      prefix_len_B = draw_prefix(prefix_rng, *ids_BL.shape)
      next_pos_BL = jnp.concatenate([pos_BL[:, 1:], jnp.zeros_like(pos_BL[:, :1])], 1)
      weights_BL = weights_BL * (next_pos_BL >= prefix_len_B[:, None])
    _, logits_BLV = model.apply({'params': params}, ids_BL, seg_BL, pos_BL, None,
                                deterministic=not train, prefix_len_B=prefix_len_B,
                                rngs={'dropout': dropout_rng})
    loss, metrics = lm_metrics(logits_BLV, targets_BL, weights_BL)
    counts = None if train else mlm.label_counts(targets_BL, weights_BL, logits_BLV.shape[-1])
    return LossOutput(loss, metrics, counts)

  return loss_fn


def flops_per_token(model_cfg, objective_cfg, seq_len: int, passes: dict) -> float:
  """One trained pass: the encoder and the LM head at every position."""
  del model_cfg, objective_cfg, seq_len
  return 3 * (passes['encoder'] + passes['mlm_head_per_prediction'])


CLM = Objective(make_loss=make_clm_loss, needs=MASKED_LM, headline=lambda o: 'lm_accuracy',
                flops_per_token=flops_per_token, perplexity_of='lm_loss', attention=('causal',),
                uses_mask_token=False)
MEAP = Objective(make_loss=make_meap_loss, needs=MASKED_LM, headline=lambda o: 'lm_accuracy',
                 flops_per_token=flops_per_token, perplexity_of='lm_loss', attention=('causal',))
PREFIX_LM = Objective(make_loss=make_prefix_lm_loss, needs=MASKED_LM,
                      headline=lambda o: 'lm_accuracy', flops_per_token=flops_per_token,
                      perplexity_of='lm_loss', attention=('prefix',), uses_mask_token=False)
