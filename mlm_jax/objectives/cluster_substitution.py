"""C-RTS, cluster-based random token substitution (Di Liello et al., "Effective Pre-Training
Objectives for Transformer-based Autoencoders", Findings of EMNLP 2022), as the first author's
framework implements it (github.com/lucadiliello/transformers-framework, commit 7f4535c:
pipelines/cluster_random_token_detection/base.py, language/modeling.py, utilities/numpy.py).

- A fixed token -> cluster map (objective.crts_cluster_map, C = objective.crts_clusters
  clusters; tools/build_cluster_map.py builds one by k-means of a trained embedding table).
- A C x C count matrix of the detector's errors, rows the original token's cluster, columns
  the substitute's, initialised to ones (TrainState.objective_state, checkpointed).
- A chosen token's substitute: its target cluster is drawn from softmax(beta x row-wise min-max
  normalised counts[cluster(original)]) (beta = objective.crts_beta, 2.0 as the authors'
  default; the target may be the original's own cluster), then a token uniformly from the
  target cluster's non-special tokens. A checkpoint without counts (a soup, an older run)
  restarts them from zeros: the same draws as ones, rows being min-max normalised.
- After every step (every micro-batch), at every non-pad position (special tokens and
  unchanged tokens included, as the authors' attention-mask selection): the cell
  (cluster(original), cluster(token seen)) gets +1 if the detector's prediction is wrong and -1
  if it is right; a cell moves at most one unit per step, so substitutions the detector misses
  become more likely and those it catches less likely.
- Loss: the detection cross-entropy over every non-pad token; no generator, no MLM term.

Readings of ours, where the reference is silent or device-specific:
- Which of a cell's votes wins in one step: PyTorch's non-accumulating `counts[oc, tc] += v`
  keeps one write per cell per device (which one is unspecified) and sums over devices; here
  one vote drawn uniformly at random per cell over the global batch, so results do not depend
  on the number of devices (the authors' cell can move up to +/-D per step on D devices).
- The authors' current code min-max normalises over columns (a bug from commit cb60e32); the
  original per-row normalisation is implemented. Clusters without a non-special token are never
  drawn (masked out of the softmax).
- Shared with rts (objectives/substitution.py, see "Differences from the reference code"):
  positions chosen as round(rate x candidates) tokens per row rather than independent
  Bernoulli(0.15) draws; a substitute equal to the original is labelled 0; one sigmoid logit
  per token instead of a two-way softmax.
- The paper does not say how clusters were built; k-means of a trained embedding table is ours.
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from mlm_jax import cluster_map
from mlm_jax.config_lib import ConfigError, require
from mlm_jax.objectives import masking, substitution
from mlm_jax.objectives.objective import TOKEN_DETECTOR, LossOutput, Objective

COUNTS = 'crts_counts'


def init_state(objective_cfg) -> dict:
  C = objective_cfg.crts_clusters
  return {COUNTS: jnp.ones((C, C), jnp.int32)}


def members(cluster_V: np.ndarray, tokens: masking.SpecialTokens, num_clusters: int):
  """(normal token ids sorted by cluster, first index of each cluster in it, cluster sizes):
  a uniform draw from cluster c is order[start[c] + floor(u x size[c])]."""
  normal = substitution.normal_ids(tokens)
  order = normal[np.argsort(cluster_V[normal], kind='stable')].astype(np.int32)
  size = np.bincount(cluster_V[normal], minlength=num_clusters).astype(np.int32)
  start = (np.cumsum(size) - size).astype(np.int32)
  return order, start, size


def cluster_logits(counts_CC, beta: float, size_C):
  """Row-wise min-max normalised counts times beta (a zero range gives a uniform row); clusters
  with no token to draw get -inf."""
  c = counts_CC.astype(jnp.float32)
  lo, hi = c.min(axis=1, keepdims=True), c.max(axis=1, keepdims=True)
  norm = jnp.where(hi > lo, (c - lo) / jnp.where(hi > lo, hi - lo, 1.0), 0.0)
  return jnp.where(size_C[None, :] > 0, beta * norm, -jnp.inf)


def draw_substitutes(rng, input_ids_BL, chosen_BL, counts_CC, cluster_V, order, start_C, size_C,
                     beta: float, slots: int):
  """(B, L) substitutes at the chosen positions (elsewhere the input): a target cluster from
  the original's row of the counts, then a uniform member of it. Drawn at SLOTS static
  positions per row (the chosen tokens), not at every position."""
  cluster_rng, member_rng = jax.random.split(rng)
  B, L = input_ids_BL.shape
  pos_BP, use_BP = masking.first_positions(chosen_BL, slots)
  orig_BP = jnp.take_along_axis(input_ids_BL, pos_BP, axis=1)
  logits_BPC = cluster_logits(counts_CC, beta, size_C)[cluster_V[orig_BP]]
  target_BP = jax.random.categorical(cluster_rng, logits_BPC)
  offset_BP = jnp.floor(jax.random.uniform(member_rng, (B, slots)) * size_C[target_BP])
  drawn_BP = order[start_C[target_BP] + jnp.minimum(offset_BP.astype(jnp.int32),
                                                    size_C[target_BP] - 1)]
  rows_BP = jnp.broadcast_to(jnp.arange(B)[:, None], (B, slots))
  where_BP = jnp.where(use_BP, pos_BP, L)  # unused slots write nowhere
  return input_ids_BL.at[rows_BP, where_BP].set(drawn_BP.astype(input_ids_BL.dtype), mode='drop')


def update_counts(rng, counts_CC, orig_cluster_BL, seen_cluster_BL, wrong_BL, weights_BL):
  """counts + one vote per touched cell: +1 (the detector was wrong) or -1 (right), the vote of
  a uniformly random position among those that fall in the cell."""
  C = counts_CC.shape[0]
  cell = (orig_cluster_BL * C + seen_cluster_BL).reshape(-1)
  live = weights_BL.reshape(-1) > 0
  priority = jnp.where(live, jax.random.uniform(rng, cell.shape), -1.0)
  best = jnp.full(C * C, -1.0).at[cell].max(priority)
  winner = live & (priority == best[cell])
  vote = jnp.where(wrong_BL.reshape(-1), 1, -1)
  delta = jnp.zeros(C * C, jnp.int32).at[cell].add(jnp.where(winner, vote, 0))
  return counts_CC + delta.reshape(C, C)


def make_loss(model, objective_cfg, tokens, word_start_V=None) -> Callable[..., Any]:
  o = objective_cfg
  full = cluster_map.load(o.crts_cluster_map, tokens.vocab_size)
  check_clusters(full, o)  # counted over every row, as validate does
  cluster_np = full[:tokens.vocab_size]
  order, start_C, size_C = (jnp.asarray(a) for a in members(cluster_np, tokens, o.crts_clusters))
  cluster_V = jnp.asarray(cluster_np)

  def loss_fn(params, batch, rng, train: bool = True, objective_state=None) -> LossOutput:
    counts_CC = (objective_state or init_state(o))[COUNTS]
    choose_rng, draw_rng, vote_rng, dropout_rng = jax.random.split(rng, 4)
    ids_BL, seg_BL = batch['input_ids'], batch['segment_ids']
    chosen_BL = substitution.choose(choose_rng, ids_BL, seg_BL, tokens, o.mask_rate, word_start_V)
    slots = int(np.ceil(o.mask_rate * ids_BL.shape[1]))  # >= any row's budget of tokens
    subs_BL = draw_substitutes(draw_rng, ids_BL, chosen_BL, counts_CC, cluster_V, order, start_C,
                               size_C, o.crts_beta, slots)
    s = substitution.substitute(chosen_BL, ids_BL, seg_BL, subs_BL)
    _, logits_BL = model.apply({'params': params}, s['input_ids'], seg_BL, batch['positions'],
                               deterministic=not train, rngs={'dropout': dropout_rng})
    loss, metrics = substitution.detection_metrics(logits_BL, s['labels'], s['weights'])
    new_state = None
    if train:
      wrong_BL = (jax.lax.stop_gradient(logits_BL) > 0) != (s['labels'] > 0)
      new_state = {COUNTS: update_counts(vote_rng, counts_CC, cluster_V[ids_BL],
                                         cluster_V[s['input_ids']], wrong_BL, s['weights'])}
    return LossOutput(loss, metrics, new_state=new_state)

  return loss_fn


def check_clusters(cluster_V: np.ndarray, objective_cfg) -> None:
  have = cluster_map.num_clusters(cluster_V)
  if have != objective_cfg.crts_clusters:
    raise ConfigError(f'objective.crts_cluster_map={objective_cfg.crts_cluster_map} has {have} '
                      f'clusters; set objective.crts_clusters={have} (not '
                      f'{objective_cfg.crts_clusters})')


def validate(objective_cfg) -> None:
  o = objective_cfg
  require(o.crts_beta > 0, f'objective.crts_beta={o.crts_beta} must be > 0')
  check_clusters(cluster_map.load(o.crts_cluster_map), o)


OBJECTIVE = Objective(make_loss=make_loss, needs=TOKEN_DETECTOR,
                      headline=lambda o: 'detection_accuracy',
                      flops_per_token=substitution.detection_flops_per_token, validate=validate,
                      uses_mask_token=False, init_state=init_state)
