"""On-device dynamic masking at static shapes.

Each row gets exactly `max_predictions` prediction slots. Candidates are real tokens that are
not special; the row's budget is round(rate x candidates) (BERT's create_pretraining_data.py),
capped at max_predictions, which config validation makes large enough for a full row
(`prediction_slots`), so the cap never lowers the rate. Words (or single tokens) are visited in
a random order; a word that does not fit the remaining budget is skipped and the next ones are
still tried, as BERT does. Unused slots get weight 0.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from mlm_jax.objectives import span_masking
from mlm_jax.tokens import SpecialTokens


# objective.masking: BERT's random tokens (or whole words) | SpanBERT | data.tagger's units first
SCHEMES = ('tokens', 'spans', 'tagged')


@dataclasses.dataclass(frozen=True)
class MaskingSpec:
  rate: float
  max_predictions: int  # 0: prediction_slots(rate, row length)
  mask_token_fraction: float
  random_token_fraction: float
  scheme: str = 'tokens'  # one of SCHEMES
  span_p: float = 0.2  # spans: geometric parameter of the span length in words
  span_max_words: int = 10  # spans: lengths clipped (and renormalised) at this many words
  tag_rate: float = 0.3  # tagged: share of a row's tagged units chosen (whole) first


def uses_word_starts(objective_cfg) -> bool:
  """Whether masking needs the vocabulary's word starts: whole words, or spans (in words).
  (An objective may need them whatever these keys say: Objective.uses_word_starts.)"""
  return bool(objective_cfg.whole_word) or objective_cfg.masking == 'spans'


def word_ids(input_ids_BL, segment_ids_BL, word_start_V) -> jax.Array:
  """Word index of each token: a new word starts at a word-start piece or a new segment."""
  starts = jnp.asarray(word_start_V)[input_ids_BL]
  new_segment = jnp.concatenate(
      [jnp.ones_like(segment_ids_BL[:, :1], bool), segment_ids_BL[:, 1:] != segment_ids_BL[:, :-1]],
      axis=1)
  return jnp.cumsum(starts | new_segment, axis=1) - 1


def candidates(input_ids_BL, segment_ids_BL, tokens: SpecialTokens) -> jax.Array:
  """(B, L) True for real (non-pad), non-special tokens: the only ones ever chosen."""
  special_V = jnp.zeros(tokens.vocab_size, bool).at[jnp.array(tokens.special)].set(True)
  return (segment_ids_BL != 0) & ~special_V[input_ids_BL]


def prediction_slots(rate: float, seq_len: int) -> int:
  """Slots a full row needs: its budget round(rate x candidates) with every token but [CLS] and
  [SEP] a candidate (numpy's round, as the device's)."""
  return max(1, int(np.round((seq_len - 2) * rate)))


def slots(objective_cfg, seq_len: int) -> int:
  """objective.max_predictions, or when 0 (the default) what a full row needs."""
  return objective_cfg.max_predictions or prediction_slots(objective_cfg.mask_rate, seq_len)


def _greedy_fit(len_sorted_BW, budget_B):
  """Words in visiting order: take each one whose pieces fit what is left of the budget."""
  def step(left_B, len_B):
    take_B = (len_B > 0) & (len_B <= left_B)
    return left_B - jnp.where(take_B, len_B, 0), take_B
  _, taken_WB = jax.lax.scan(step, budget_B, len_sorted_BW.T, unroll=8)
  return taken_WB.T


def row_budget(candidates_BL, rate, max_predictions) -> jax.Array:
  """Tokens to choose per row: round(rate x candidates), at least 1, at most max_predictions."""
  n_cand_B = candidates_BL.sum(axis=1)
  return jnp.minimum(max_predictions, jnp.maximum(1, jnp.round(n_cand_B * rate))).astype(jnp.int32)


def take_units(rng, unit_id_BL, member_BL, budget_B, whole_units=True, max_units_B=None,
               num_ids=None):
  """Token indicator (B, L) of whole units taken in random order while they fit BUDGET_B.

  A unit is the member tokens sharing an id of UNIT_ID_BL (ids < num_ids, default L); units
  without members are never taken. whole_units: a unit that does not fit is skipped and later
  ones are still tried (BERT); else units are one token each and the first budget are taken.
  max_units_B caps how many units a row may take, counted in the random order."""
  B, L = member_BL.shape
  U = num_ids or L
  len_BU = jax.vmap(lambda w, c: jnp.zeros(U, jnp.int32).at[w].add(c))(
      unit_id_BL, member_BL.astype(jnp.int32))
  score_BU = jnp.where(len_BU > 0, jax.random.uniform(rng, (B, U)), jnp.inf)
  order_BU = jnp.argsort(score_BU, axis=1)
  len_sorted_BU = jnp.take_along_axis(len_BU, order_BU, axis=1)
  if max_units_B is not None:
    len_sorted_BU = jnp.where(jnp.arange(U) < max_units_B[:, None], len_sorted_BU, 0)
  if whole_units:  # a long unit that does not fit is skipped, shorter ones after it still fit
    taken_sorted_BU = _greedy_fit(len_sorted_BU, budget_B)
  else:  # every unit one token: the first `budget` units in the order, a prefix
    taken_sorted_BU = (jnp.cumsum(len_sorted_BU, axis=1) <= budget_B[:, None]) & (len_sorted_BU > 0)
  taken_BU = jax.vmap(lambda o, t: jnp.zeros(U, bool).at[o].set(t))(order_BU, taken_sorted_BU)
  return jnp.take_along_axis(taken_BU, unit_id_BL, axis=1) & member_BL


def choose_positions(rng, candidates_BL, word_id_BL, rate, max_predictions, whole_words=True,
                     budget_B=None):
  """Chosen-token indicator (B, L): random whole words, at most the row's budget of tokens
  (round(rate x candidates) unless BUDGET_B is given)."""
  if budget_B is None:
    budget_B = row_budget(candidates_BL, rate, max_predictions)
  return take_units(rng, word_id_BL, candidates_BL, budget_B, whole_words)


def choose_tagged(rng, candidates_BL, tags_BL, word_id_BL, rate, tag_rate, max_predictions,
                  whole_words=True):
  """Tagged units first: ceil(tag_rate x units) of the row's tagged units (ids 1, 2, ... in
  TAGS_BL), in random order, each taken whole while it fits the row's budget; the rest of the
  budget goes to untagged tokens (or words). Tagged units not taken are not masked at all
  (BiTimeBERT's time-aware MLM)."""
  L = candidates_BL.shape[1]
  tag_rng, rest_rng = jax.random.split(rng)
  budget_B = row_budget(candidates_BL, rate, max_predictions)
  tags_BL = jnp.clip(tags_BL, 0, L)
  tagged_BL = candidates_BL & (tags_BL > 0)
  units_B = jax.vmap(lambda t, m: jnp.zeros(L + 1, bool).at[t].max(m))(tags_BL, tagged_BL).sum(1)
  chosen_BL = take_units(tag_rng, tags_BL, tagged_BL, budget_B,
                         max_units_B=jnp.ceil(tag_rate * units_B), num_ids=L + 1)
  rest_BL = choose_positions(rest_rng, candidates_BL & (tags_BL == 0), word_id_BL, rate,
                             max_predictions, whole_words, budget_B - chosen_BL.sum(axis=1))
  return chosen_BL | rest_BL


def mask_batch(rng, input_ids_BL, segment_ids_BL, tokens: SpecialTokens, spec: MaskingSpec,
               word_start_V=None, unit_tags_BL=None):
  """Returns masked inputs, prediction positions, original ids and weights. UNIT_TAGS_BL:
  the batch's 'unit_tags' (scheme 'tagged').

  input_ids (B, L) -> dict(input_ids (B, L) corrupted, masked_positions (B, P),
  masked_ids (B, P) targets, masked_weights (B, P) float32 1/0).
  """
  B, L = input_ids_BL.shape
  P = spec.max_predictions or prediction_slots(spec.rate, L)  # 0: derived from the row length
  choose_rng, mix_rng, random_rng = jax.random.split(rng, 3)
  candidates_BL = candidates(input_ids_BL, segment_ids_BL, tokens)
  if word_start_V is None:  # every token is its own word
    wid_BL = jnp.broadcast_to(jnp.arange(L), (B, L))
  else:
    wid_BL = word_ids(input_ids_BL, segment_ids_BL, word_start_V)
  u_BL = jax.random.uniform(mix_rng, (B, L))
  if spec.scheme == 'spans':
    chosen_BL, span_BL = span_masking.choose_spans(
        choose_rng, candidates_BL, wid_BL, segment_ids_BL, row_budget(candidates_BL, spec.rate, P),
        P, spec.span_p, spec.span_max_words)
    u_BL = jnp.take_along_axis(u_BL, jnp.maximum(span_BL, 0), axis=1)  # one draw per span
  elif spec.scheme == 'tagged':
    if unit_tags_BL is None:
      raise ValueError("objective.masking='tagged' needs batches with 'unit_tags' (data.tagger)")
    chosen_BL = choose_tagged(choose_rng, candidates_BL, unit_tags_BL, wid_BL, spec.rate,
                              spec.tag_rate, P, whole_words=word_start_V is not None)
  else:
    chosen_BL = choose_positions(choose_rng, candidates_BL, wid_BL, spec.rate, P,
                                 whole_words=word_start_V is not None)

  return corrupt(random_rng, input_ids_BL, chosen_BL, u_BL, tokens, spec, P)


def first_positions(flags_BL, P: int):
  """(indices (B, P) int32 of the first P True entries per row, in order, padded with 0; their
  flags (B, P), False on padding)."""
  L = flags_BL.shape[1]
  key_BL = jnp.where(flags_BL, jnp.arange(L), L + jnp.arange(L))
  positions_BP = jnp.argsort(key_BL, axis=1)[:, :P].astype(jnp.int32)
  weights_BP = jnp.take_along_axis(flags_BL, positions_BP, axis=1)
  return jnp.where(weights_BP, positions_BP, 0), weights_BP


def corrupt(rng, input_ids_BL, chosen_BL, u_BL, tokens: SpecialTokens, spec: MaskingSpec, P: int):
  """The chosen tokens' prediction slots and corrupted inputs: a chosen token becomes [MASK]
  when its draw u < mask_token_fraction, a random normal token below mask + random fraction,
  else stays (see mask_batch for the returned dict)."""
  positions_BP, weights_BP = first_positions(chosen_BL, P)
  targets_BP = jnp.take_along_axis(input_ids_BL, positions_BP, axis=1)

  to_mask = chosen_BL & (u_BL < spec.mask_token_fraction)
  to_random = chosen_BL & ~to_mask & (u_BL < spec.mask_token_fraction + spec.random_token_fraction)
  normal_ids = np.array([i for i in range(tokens.vocab_size) if i not in set(tokens.special)],
                        np.int32)
  random_BL = jnp.asarray(normal_ids)[jax.random.randint(rng, chosen_BL.shape, 0, len(normal_ids))]
  corrupted_BL = jnp.where(to_mask, tokens.mask, jnp.where(to_random, random_BL, input_ids_BL))
  return dict(input_ids=corrupted_BL.astype(input_ids_BL.dtype), masked_positions=positions_BP,
              masked_ids=targets_BP, masked_weights=weights_BP.astype(jnp.float32))
