"""ERNIE-Gram's explicitly n-gram masking, on device at static shapes.

1. Units: rows are cut into lexicon n-grams and single tokens, left to right, taking at each
   unit start the longest lexicon n-gram found there (the n-grams of mlm_jax/ngrams.py: whole
   words, no special tokens, inside one segment).
2. Choice: units in random order, each taken while its tokens fit the row's budget
   round(rate x candidates) (masking.choose_positions with units as words).
3. Compaction: each chosen unit becomes ONE [MASK] (the paper: "n-grams are masked with single
   [MASK] symbols"), the rest of the row moves left, padding fills the end, and positions are
   renumbered inside each segment (the paper's Fig. 2: x1 [M] x4 [M] x6 at positions 1..5).
4. Targets: coarse, one per chosen unit at its [MASK]: the token id for a single token, V + k
   for lexicon n-gram k; fine, one query per chosen token: query vector j (its offset in the
   unit) at the position of the unit's [MASK], predicting the token.

Readings of ours: the budget counts tokens (as BERT's whole-word masking does), so the token
mask rate is the configured rate (the paper samples 15% of n-gram units, which masks more than
15% of tokens); segmentation is greedy longest-match (the paper takes the shortest path through
the lexicon's matches, a global choice); every chosen unit becomes [MASK] (the paper's figures
show no random or kept units).
"""
import jax
import jax.numpy as jnp

from mlm_jax import ngrams
from mlm_jax.objectives import masking


def device_lexicon(lex: ngrams.Lexicon) -> dict:
  return {'hashes': jnp.asarray(lex.hashes), 'ngrams': jnp.asarray(lex.ngrams),
          'lengths': jnp.asarray(lex.lengths)}


def _shift(x_BL, t: int, fill):
  """x[:, i + t] at i (FILL past the end)."""
  if t == 0:
    return x_BL
  return jnp.concatenate([x_BL[:, t:], jnp.full_like(x_BL[:, :t], fill)], axis=1)


def lexicon_matches(input_ids_BL, segment_ids_BL, candidates_BL, word_start_BL, lex: dict):
  """(length (B, L) of the longest lexicon n-gram starting at each token, 1 if none; its
  lexicon row, -1 if none)."""
  K, N = lex['ngrams'].shape
  best_len_BL = jnp.ones_like(input_ids_BL)
  best_idx_BL = jnp.full_like(input_ids_BL, -1)
  for n in range(2, N + 1):
    window = [_shift(input_ids_BL, t, 0) for t in range(n)]
    ok_BL = word_start_BL
    for t in range(n):
      ok_BL = ok_BL & _shift(candidates_BL, t, False)
      ok_BL = ok_BL & (_shift(segment_ids_BL, t, -1) == segment_ids_BL)
    # it must end at a word end: the next token starts a word, or the segment (row) ends
    next_seg_BL = _shift(segment_ids_BL, n, -1)
    ok_BL = ok_BL & ((next_seg_BL != segment_ids_BL) | _shift(word_start_BL, n, True))
    h_BL = ngrams.ngram_hash(window, n)
    k_BL = jnp.clip(jnp.searchsorted(lex['hashes'], h_BL), 0, K - 1)
    row_BLN = lex['ngrams'][k_BL]
    same_BL = (lex['hashes'][k_BL] == h_BL) & (lex['lengths'][k_BL] == n)
    for t in range(n):
      same_BL = same_BL & (row_BLN[..., t] == window[t])
    found_BL = ok_BL & same_BL
    best_len_BL = jnp.where(found_BL, n, best_len_BL)
    best_idx_BL = jnp.where(found_BL, k_BL, best_idx_BL)
  return best_len_BL, best_idx_BL


def segment_units(match_len_BL, match_idx_BL):
  """Greedy left to right: (unit start (B, L) bool, unit length at starts, lexicon row at
  starts (-1: a single token))."""
  def step(left_B, inputs):
    len_B, idx_B = inputs
    start_B = left_B == 0
    return (jnp.where(start_B, len_B - 1, left_B - 1),
            (start_B, jnp.where(start_B, len_B, 0), jnp.where(start_B, idx_B, -1)))
  _, (start_LB, len_LB, idx_LB) = jax.lax.scan(
      step, jnp.zeros(match_len_BL.shape[0], match_len_BL.dtype), (match_len_BL.T, match_idx_BL.T))
  return start_LB.T, len_LB.T, idx_LB.T


def mask_ngrams(rng, input_ids_BL, segment_ids_BL, positions_BL, tokens, lex: dict, rate: float,
                slots: int, model_vocab: int, word_start_V=None) -> dict:
  """The compacted main stream, the query stream and both targets (see the module doc)."""
  B, L = input_ids_BL.shape
  candidates_BL = masking.candidates(input_ids_BL, segment_ids_BL, tokens)
  word_start_BL = (jnp.ones_like(candidates_BL) if word_start_V is None
                   else jnp.asarray(word_start_V)[input_ids_BL])
  match_len_BL, match_idx_BL = lexicon_matches(input_ids_BL, segment_ids_BL, candidates_BL,
                                               word_start_BL, lex)
  start_BL, unit_len_BL, unit_lex_BL = segment_units(match_len_BL, match_idx_BL)
  unit_id_BL = jnp.cumsum(start_BL, axis=1) - 1
  chosen_BL = masking.choose_positions(rng, candidates_BL, unit_id_BL, rate, slots)
  masked_start_BL = chosen_BL & start_BL
  dropped_BL = chosen_BL & ~start_BL
  arange_L = jnp.arange(L)

  # Compaction: kept tokens move left; positions renumbered inside each segment.
  before_BL = jnp.cumsum(dropped_BL, axis=1) - dropped_BL  # dropped tokens before i
  seg_start_BL = jnp.clip(arange_L - positions_BL, 0, L - 1)
  new_pos_BL = positions_BL - (before_BL - jnp.take_along_axis(before_BL, seg_start_BL, axis=1))
  compact_index_BL = arange_L - before_BL
  order_BL = jnp.argsort(jnp.where(dropped_BL, L + arange_L, arange_L), axis=1)
  take = lambda x_BL: jnp.take_along_axis(x_BL, order_BL, axis=1)  # noqa: E731
  kept_BL = take(~dropped_BL)
  main_ids_BL = jnp.where(kept_BL, take(jnp.where(masked_start_BL, tokens.mask, input_ids_BL)),
                          tokens.pad)
  main_seg_BL = jnp.where(kept_BL, take(segment_ids_BL), 0)
  main_pos_BL = jnp.where(kept_BL, take(new_pos_BL), 0)

  # Coarse targets: one per chosen unit, at its [MASK] in the compacted row.
  unit_at_BP, coarse_w_BP = masking.first_positions(masked_start_BL, slots)
  gather = lambda x_BL, at_BP: jnp.take_along_axis(x_BL, at_BP, axis=1)  # noqa: E731
  lex_row_BP = gather(unit_lex_BL, unit_at_BP)
  coarse_ids_BP = jnp.where(lex_row_BP >= 0, model_vocab + lex_row_BP,
                            gather(input_ids_BL, unit_at_BP))

  # Fine targets: one query per chosen token, at its unit's [MASK] position.
  token_at_BP, fine_w_BP = masking.first_positions(chosen_BL, slots)
  unit_start_BL = jax.lax.cummax(jnp.where(start_BL, arange_L, 0), axis=1)
  start_of_BP = gather(unit_start_BL, token_at_BP)
  N = lex['ngrams'].shape[1]
  return dict(
      input_ids=main_ids_BL.astype(input_ids_BL.dtype), segment_ids=main_seg_BL,
      positions=main_pos_BL,
      coarse_positions=gather(compact_index_BL, unit_at_BP) * coarse_w_BP,
      coarse_ids=coarse_ids_BP * coarse_w_BP, coarse_weights=coarse_w_BP.astype(jnp.float32),
      query_ids=jnp.clip(token_at_BP - start_of_BP, 0, N - 1) * fine_w_BP,
      query_positions=gather(new_pos_BL, start_of_BP) * fine_w_BP,
      query_segments=gather(segment_ids_BL, token_at_BP) * fine_w_BP,
      fine_ids=gather(input_ids_BL, token_at_BP) * fine_w_BP,
      fine_weights=fine_w_BP.astype(jnp.float32),
      chosen=chosen_BL)

