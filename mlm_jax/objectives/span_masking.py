"""SpanBERT span masking (Joshi et al. 2020, sec. 3.1), on device at static shapes.

The paper: span lengths in words drawn from a geometric distribution Geo(p=0.2) clipped at 10
words (mean 3.8), span starts uniformly random and always at the start of a word, spans until
15% of the tokens are chosen; 80/10/10 [MASK]/random/original decided per span, not per token.
The authors' code (facebookresearch/SpanBERT, pretraining/fairseq/data/masking.py) fills in the
rest, and this follows it: the clipped distribution is renormalised over 1..10; an anchor token
is drawn uniformly, a span that would start on an already chosen token is redrawn; a span runs
over whole words and may run into chosen tokens (only new ones count); the last span is cut
where the budget ends, even inside a word; touching or overlapping spans merge into one and get
one replacement decision.

Readings of ours (not in the paper or that code): the budget is round(rate x candidates), as
for token masking, not ceil(rate x length); a span stops at the end of its document segment
(packed rows hold several documents, the authors' rows one); anchors are drawn among unchosen
candidates directly (the same distribution as redrawing) and at most max_predictions spans are
drawn, each adding at least one token, so every row reaches its budget.
"""
import jax
import jax.numpy as jnp
import numpy as np


def length_distribution(p: float, max_len: int) -> np.ndarray:
  """P(span = k words), k = 1..max_len: Geo(p) clipped at max_len and renormalised."""
  probs = p * (1 - p) ** np.arange(max_len)
  return probs / probs.sum()


def choose_spans(rng, candidates_BL, word_id_BL, segment_ids_BL, budget_B, max_spans: int,
                 p: float, max_len: int) -> tuple[jax.Array, jax.Array]:
  """(chosen (B, L) bool, span id (B, L) int32, -1 where not chosen) after merging."""
  B, L = candidates_BL.shape
  len_rng, anchor_rng = jax.random.split(rng)
  lengths_BK = 1 + jax.random.categorical(
      len_rng, jnp.log(jnp.asarray(length_distribution(p, max_len))), shape=(B, max_spans))
  anchor_keys = jax.random.split(anchor_rng, max_spans)

  def draw(chosen_BL, inputs):
    length_B, key = inputs
    free_BL = candidates_BL & ~chosen_BL
    score_BL = jnp.where(free_BL, jax.random.uniform(key, (B, L)), -1.0)
    anchor_B = jnp.argmax(score_BL, axis=1)
    start_word_B = jnp.take_along_axis(word_id_BL, anchor_B[:, None], 1)[:, 0]
    seg_B = jnp.take_along_axis(segment_ids_BL, anchor_B[:, None], 1)[:, 0]
    in_span_BL = (candidates_BL & (segment_ids_BL == seg_B[:, None])
                  & (word_id_BL >= start_word_B[:, None])
                  & (word_id_BL < (start_word_B + length_B)[:, None]))
    new_BL = in_span_BL & ~chosen_BL
    left_B = budget_B - chosen_BL.sum(axis=1)
    take_BL = new_BL & (jnp.cumsum(new_BL, axis=1) <= left_B[:, None])
    take_BL &= free_BL.any(axis=1, keepdims=True)  # nothing left to draw an anchor from
    return chosen_BL | take_BL, None

  chosen_BL, _ = jax.lax.scan(draw, jnp.zeros((B, L), bool), (lengths_BK.T, anchor_keys))
  # Merge: a maximal run of chosen tokens is one span (a run of the authors' merge_intervals).
  starts_BL = chosen_BL & ~jnp.pad(chosen_BL, ((0, 0), (1, 0)))[:, :L]
  span_BL = jnp.where(chosen_BL, jnp.cumsum(starts_BL, axis=1) - 1, -1).astype(jnp.int32)
  return chosen_BL, span_BL
