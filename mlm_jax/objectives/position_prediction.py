"""Position prediction (MP3, Zhai et al. ICML 2022: "predicting locations from content, without
providing positional information"), for text, on the position_predictor family.

Per row, objective.mask_rate of the real tokens (MP3's masking ratio) are removed from the
attention keys in every layer; every real, non-special token, masked or not, classifies its
position in its segment (cross-entropy over model.max_positions). Nothing is replaced: the
input is the text, without positions.

Readings of ours (MP3 is stated for image patches and speech frames; we could read its abstract
and unofficial code): the masked tokens' own content still reaches their query (each is its
own residual stream) but no other token sees it; [CLS] and [SEP] are keys but not predicted
(their positions are given away by the packing); the masking ratio is drawn per row,
round(rate x real tokens).
Reported: position_loss, position_accuracy (exact position), position_within_2 (|error| <= 2).
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp

from mlm_jax.config_lib import require
from mlm_jax.objectives import masking, mlm
from mlm_jax.objectives.objective import POSITION_PREDICTOR, LossOutput, Objective


def context_keys(rng, segment_ids_BL, rate: float) -> jax.Array:
  """(B, L) True for the tokens that stay attention keys: all real tokens but round(rate x
  real) per row, chosen uniformly."""
  B, L = segment_ids_BL.shape
  real_BL = segment_ids_BL != 0
  hidden_BL = masking.choose_positions(rng, real_BL, jnp.broadcast_to(jnp.arange(L), (B, L)),
                                       rate, L, whole_words=False)
  return real_BL & ~hidden_BL


def make_loss(model, objective_cfg, tokens, word_start_V=None) -> Callable[..., Any]:
  del word_start_V
  rate = objective_cfg.mask_rate

  def loss_fn(params, batch, rng, train: bool = True) -> LossOutput:
    key_rng, dropout_rng = jax.random.split(rng)
    ids_BL, seg_BL, pos_BL = batch['input_ids'], batch['segment_ids'], batch['positions']
    context_BL = context_keys(key_rng, seg_BL, rate)
    _, logits_BLP = model.apply({'params': params}, ids_BL, seg_BL, pos_BL, context_BL,
                                deterministic=not train, rngs={'dropout': dropout_rng})
    weights_BL = masking.candidates(ids_BL, seg_BL, tokens).astype(jnp.float32)
    loss, m = mlm.mlm_metrics(logits_BLP, pos_BL, weights_BL)
    near = ((jnp.abs(logits_BLP.argmax(-1) - pos_BL) <= 2) * weights_BL).sum()
    metrics = {'position_loss': m['mlm_loss'], 'position_accuracy': m['mlm_accuracy'],
               'position_within_2': (near, weights_BL.sum())}
    return LossOutput(loss, metrics)

  return loss_fn


def validate(objective_cfg) -> None:
  require(objective_cfg.masking == 'tokens' and not objective_cfg.whole_word,
          'objective.masking / objective.whole_word: position_prediction hides single tokens')


def flops_per_token(model_cfg, objective_cfg, seq_len: int, passes: dict) -> float:
  """One trained pass: the encoder (all keys counted) and the position head at every token."""
  del model_cfg, objective_cfg, seq_len
  return 3 * (passes['encoder'] + passes['position_head'])


OBJECTIVE = Objective(make_loss=make_loss, needs=POSITION_PREDICTOR,
                      headline=lambda o: 'position_accuracy', flops_per_token=flops_per_token,
                      validate=validate, attention=('bidirectional',), uses_mask_token=False)
