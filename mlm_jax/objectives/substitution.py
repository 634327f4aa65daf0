"""Token-substitution objectives (Di Liello et al., Findings of EMNLP 2022: RTS, SLM; C-RTS is
objectives/cluster_substitution.py), no generator network.

- rts:  a fraction of the real, non-special tokens is replaced by tokens drawn uniformly from
        the vocabulary's normal (non-special) tokens; a per-token binary head says, for every
        non-pad token, whether it was substituted.
- crts_simhash: a variant of ours, not the paper's C-RTS: the substitute comes from the
        original token's own bucket of a random-hyperplane hash (SimHash) of the *current*
        token-embedding table, centred, into 2^crts_cluster_bits buckets, recomputed inside
        every step under stop_gradient; no error feedback. A token alone in its bucket gets a
        uniform substitute. Kept until the shoot-out measures it against crts (issue 16).
- slm:  swapped language modelling: the chosen tokens are all replaced by random tokens (no
        [MASK]), and an MLM head predicts the original at `max_predictions` static positions.

The rate is objective.mask_rate of the candidate tokens (whole words with objective.whole_word).

Differences from the reference code (the first author's transformers-framework,
language/modeling.py: random_token_substitution, clusters_random_token_substitution), the one
place they are listed, for rts, crts and crts_simhash:
- Positions: exactly round(rate x candidates) tokens (or whole words) per row, BERT's
  budget; the reference draws an independent Bernoulli(rate) per token (the same mean, a
  binomial spread). With whole words the reference's C-RTS selects word-initial pieces only
  and does not extend to the word; here the whole word is substituted, as its RTS does.
- Substitutes: never a special token (rts, crts_simhash and crts); the reference's RTS draws
  from the whole vocabulary, special tokens included; its C-RTS excludes them, as here.
- Labels: a substitute equal to the original is labelled 0 (nothing was substituted, as in
  ELECTRA); the reference labels every chosen position 1, equal draws included.
- Head: one sigmoid logit per token; the reference uses a two-way softmax (the same family of
  classifiers, the same cross-entropy).
"""
import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mlm_jax import metrics as metrics_lib
from mlm_jax.models import token_detector
from mlm_jax.objectives import masking, mlm
from mlm_jax.objectives.objective import MASKED_LM, TOKEN_DETECTOR, LossOutput, Objective


def normal_ids(tokens: masking.SpecialTokens) -> np.ndarray:
  """Ids a substitute may take: every vocabulary id that is not special."""
  special = set(tokens.special)
  return np.array([i for i in range(tokens.vocab_size) if i not in special], np.int32)


candidates = masking.candidates  # real, non-special tokens: the only ones ever substituted


def choose(rng, input_ids_BL, segment_ids_BL, tokens, rate, word_start_V=None):
  """Chosen-token indicator (B, L): round(rate x candidates) tokens (or whole words) per row."""
  B, L = input_ids_BL.shape
  cand_BL = candidates(input_ids_BL, segment_ids_BL, tokens)
  if word_start_V is None:
    wid_BL = jnp.broadcast_to(jnp.arange(L), (B, L))
  else:
    wid_BL = masking.word_ids(input_ids_BL, segment_ids_BL, word_start_V)
  return masking.choose_positions(rng, cand_BL, wid_BL, rate, L,
                                  whole_words=word_start_V is not None)


def uniform_substitutes(rng, shape, tokens: masking.SpecialTokens):
  ids = normal_ids(tokens)
  return jnp.asarray(ids)[jax.random.randint(rng, shape, 0, len(ids))]


def cluster_ids(table_VD, bits: int, seed: int = 0):
  """Bucket of every row: signs of the centred rows against `bits` fixed random hyperplanes."""
  table_VD = jax.lax.stop_gradient(table_VD).astype(jnp.float32)
  planes_DK = jax.random.normal(jax.random.key(seed), (table_VD.shape[1], bits))
  codes_VK = (table_VD - table_VD.mean(axis=0)) @ planes_DK > 0
  return (codes_VK * (2 ** jnp.arange(bits))).sum(axis=1).astype(jnp.int32)


def cluster_substitutes(rng, input_ids_BL, cluster_V, tokens: masking.SpecialTokens):
  """A token of the same cluster for every position, uniformly (the original included).

  Special tokens form their own bucket, so they are never drawn. Static shapes: token ids are
  sorted by bucket once, and a draw is an offset into the original's bucket."""
  V = tokens.vocab_size
  special_V = jnp.zeros(V, bool).at[jnp.array(tokens.special)].set(True)
  key_V = jnp.where(special_V, jnp.iinfo(jnp.int32).max, cluster_V[:V])
  order_V = jnp.argsort(key_V)
  sorted_key_V = key_V[order_V]
  key_BL = key_V[input_ids_BL]
  start_BL = jnp.searchsorted(sorted_key_V, key_BL, side='left')
  size_BL = jnp.searchsorted(sorted_key_V, key_BL, side='right') - start_BL
  u_rng, fallback_rng = jax.random.split(rng)
  offset_BL = jnp.floor(jax.random.uniform(u_rng, input_ids_BL.shape) * size_BL).astype(jnp.int32)
  drawn_BL = order_V[start_BL + jnp.minimum(offset_BL, jnp.maximum(size_BL - 1, 0))]
  fallback_BL = uniform_substitutes(fallback_rng, input_ids_BL.shape, tokens)
  return jnp.where(size_BL > 1, drawn_BL, fallback_BL)


def substitute(chosen_BL, input_ids_BL, segment_ids_BL, substitutes_BL):
  """Corrupted ids, 0/1 labels (substituted and different from the original), and weights
  (every non-pad token is classified)."""
  corrupted_BL = jnp.where(chosen_BL, substitutes_BL, input_ids_BL).astype(input_ids_BL.dtype)
  labels_BL = (corrupted_BL != input_ids_BL).astype(jnp.float32)
  weights_BL = (segment_ids_BL != 0).astype(jnp.float32)
  return dict(input_ids=corrupted_BL, labels=labels_BL, weights=weights_BL)


def detection_metrics(logits_BL, labels_BL, weights_BL) -> tuple[jax.Array, dict]:
  """Mean weighted sigmoid cross-entropy, plus accuracy, precision, recall as (sum, count), and
  the accuracy of answering "not substituted" everywhere (baseline_detection_accuracy) and the
  best constant answer's loss (baseline_loss: the whole loss is the detector's)."""
  xent_BL = optax.sigmoid_binary_cross_entropy(logits_BL, labels_BL)
  total = weights_BL.sum()
  loss = (xent_BL * weights_BL).sum() / jnp.maximum(total, 1.0)
  pred_BL = (logits_BL > 0).astype(jnp.float32) * weights_BL
  true_pos = (pred_BL * labels_BL).sum()
  correct = ((pred_BL == labels_BL) * weights_BL).sum()
  return loss, {
      'detection_accuracy': (correct, total),
      'substitution_precision': (true_pos, pred_BL.sum()),
      'substitution_recall': (true_pos, labels_BL.sum()),
      'substituted_fraction': (labels_BL.sum(), total),
      'baseline_detection_accuracy': (((1 - labels_BL) * weights_BL).sum(), total),
      'baseline_loss': metrics_lib.constant_answer_loss(labels_BL, weights_BL),
  }


def _make_detection_loss(model, objective_cfg, tokens, word_start_V, clustered: bool):
  rate, bits = objective_cfg.mask_rate, objective_cfg.crts_cluster_bits

  def loss_fn(params, batch, rng, train: bool = True):
    choose_rng, sub_rng, dropout_rng = jax.random.split(rng, 3)
    ids_BL, seg_BL = batch['input_ids'], batch['segment_ids']
    chosen_BL = choose(choose_rng, ids_BL, seg_BL, tokens, rate, word_start_V)
    if clustered:
      cluster_V = cluster_ids(token_detector.token_embeddings(params)[:tokens.vocab_size], bits)
      subs_BL = cluster_substitutes(sub_rng, ids_BL, cluster_V, tokens)
    else:
      subs_BL = uniform_substitutes(sub_rng, ids_BL.shape, tokens)
    s = substitute(chosen_BL, ids_BL, seg_BL, subs_BL)
    _, logits_BL = model.apply({'params': params}, s['input_ids'], seg_BL, batch['positions'],
                               deterministic=not train, rngs={'dropout': dropout_rng})
    return LossOutput(*detection_metrics(logits_BL, s['labels'], s['weights']))

  return loss_fn


def make_rts_loss(model, objective_cfg, tokens, word_start_V=None) -> Callable[..., Any]:
  return _make_detection_loss(model, objective_cfg, tokens, word_start_V, clustered=False)


def make_crts_simhash_loss(model, objective_cfg, tokens, word_start_V=None) -> Callable[..., Any]:
  return _make_detection_loss(model, objective_cfg, tokens, word_start_V, clustered=True)


def swap_batch(rng, input_ids_BL, segment_ids_BL, tokens, rate, max_predictions,
               word_start_V=None):
  """SLM inputs: every chosen token swapped for a random one; targets at P static positions."""
  spec = masking.MaskingSpec(rate, max_predictions, mask_token_fraction=0.0,
                             random_token_fraction=1.0)
  return masking.mask_batch(rng, input_ids_BL, segment_ids_BL, tokens, spec, word_start_V)


def make_slm_loss(model, objective_cfg, tokens, word_start_V=None) -> Callable[..., Any]:
  """MLM loss on swapped (never [MASK]ed) inputs; mask/random fractions are not used."""
  o = objective_cfg

  def loss_fn(params, batch, rng, train: bool = True):
    swap_rng, dropout_rng = jax.random.split(rng)
    m = swap_batch(swap_rng, batch['input_ids'], batch['segment_ids'], tokens, o.mask_rate,
                   o.max_predictions, word_start_V)
    _, logits_BPV = model.apply({'params': params}, m['input_ids'], batch['segment_ids'],
                                batch['positions'], m['masked_positions'], deterministic=not train,
                                rngs={'dropout': dropout_rng})
    loss, metrics = mlm.mlm_metrics(logits_BPV, m['masked_ids'], m['masked_weights'])
    seen_BP = jnp.take_along_axis(m['input_ids'], m['masked_positions'], axis=1)
    differs = ((seen_BP != m['masked_ids']) * m['masked_weights']).sum()
    metrics['swapped_fraction'] = (differs, m['masked_weights'].sum())  # of predicted positions
    counts = None if train else mlm.label_counts(m['masked_ids'], m['masked_weights'],
                                                 logits_BPV.shape[-1])
    return LossOutput(loss, metrics, counts)

  return loss_fn


def detection_flops_per_token(model_cfg, objective_cfg, seq_len: int, passes: dict) -> float:
  """One trained pass: the encoder and the detection head at every token. (C-RTS's bucket
  hashing, V x D x bits per step, is under 0.1% of a step and not counted.)"""
  del model_cfg, objective_cfg, seq_len
  return 3 * (passes['encoder'] + passes['detection_head'])


RTS = Objective(make_loss=make_rts_loss, needs=TOKEN_DETECTOR,
                headline=lambda o: 'detection_accuracy', flops_per_token=detection_flops_per_token,
                uses_mask_token=False)
CRTS_SIMHASH = dataclasses.replace(RTS, make_loss=make_crts_simhash_loss)
SLM = Objective(make_loss=make_slm_loss, needs=MASKED_LM, headline=lambda o: 'mlm_accuracy',
                flops_per_token=mlm.flops_per_token, perplexity_of='mlm_loss', uses_mask_token=False)
