import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax.objectives import masking, span_masking

TOKENS = masking.SpecialTokens(pad=0, mask=4, cls=2, sep=3, special=(0, 1, 2, 3, 4), vocab_size=100)


def _batch(B=64, L=128, n_docs=3, seed=0):
  """Packed rows: n_docs documents, each [CLS] words [SEP], then padding."""
  rng = np.random.default_rng(seed)
  ids = np.zeros((B, L), np.int32)
  seg = np.zeros((B, L), np.int32)
  for b in range(B):
    pos = 0
    for d in range(n_docs):
      n = rng.integers(10, 35)
      ids[b, pos:pos + n] = np.concatenate([[2], rng.integers(5, 100, n - 2), [3]])
      seg[b, pos:pos + n] = d + 1
      pos += n
  return jnp.asarray(ids), jnp.asarray(seg)


def _spec(**kw):
  args = dict(rate=0.15, max_predictions=20, mask_token_fraction=0.8, random_token_fraction=0.1)
  args.update(kw)
  return masking.MaskingSpec(**args)


def test_rate_and_budget():
  ids, seg = _batch()
  out = masking.mask_batch(jax.random.key(0), ids, seg, TOKENS, _spec())
  cand = ((seg != 0) & (ids > 4)).sum(1)
  expected = np.minimum(20, np.maximum(1, np.round(np.asarray(cand) * 0.15)))
  np.testing.assert_array_equal(np.asarray(out['masked_weights']).sum(1), expected)


def test_budget_capped_by_max_predictions():
  ids, seg = _batch()
  out = masking.mask_batch(jax.random.key(1), ids, seg, TOKENS, _spec(rate=0.5, max_predictions=8))
  assert np.all(np.asarray(out['masked_weights']).sum(1) == 8)


def test_never_special_or_padding_and_targets_are_originals():
  ids, seg = _batch()
  out = masking.mask_batch(jax.random.key(2), ids, seg, TOKENS, _spec(rate=0.3, max_predictions=40))
  w = np.asarray(out['masked_weights']) > 0
  pos = np.asarray(out['masked_positions'])
  orig = np.take_along_axis(np.asarray(ids), pos, 1)
  assert np.all(orig[w] > 4), 'a special token or padding was chosen'
  np.testing.assert_array_equal(np.asarray(out['masked_ids'])[w], orig[w])
  # Only chosen positions may change.
  changed = np.asarray(out['input_ids']) != np.asarray(ids)
  chosen = np.zeros_like(changed)
  for b in range(ids.shape[0]):
    chosen[b, pos[b][w[b]]] = True
  assert not np.any(changed & ~chosen)


def test_replacement_mix():
  ids, seg = _batch(B=2048)
  out = masking.mask_batch(jax.random.key(3), ids, seg, TOKENS, _spec())
  w = np.asarray(out['masked_weights']) > 0
  pos = np.asarray(out['masked_positions'])
  new = np.take_along_axis(np.asarray(out['input_ids']), pos, 1)[w]
  orig = np.asarray(out['masked_ids'])[w]
  n = len(new)
  frac_mask = np.mean(new == 4)
  frac_same = np.mean(new == orig)
  assert abs(frac_mask - 0.8) < 0.02, frac_mask
  # kept (10%) plus random draws that hit the original (10% x 1/95)
  assert abs(frac_same - (0.1 + 0.1 / 95)) < 0.02, frac_same
  assert np.all(new[(new != 4)] > 4), 'random replacements must not be special tokens'
  assert n > 10000


def test_electra_mix_has_no_random_tokens():
  ids, seg = _batch(B=128)
  out = masking.mask_batch(jax.random.key(4), ids, seg, TOKENS,
                           _spec(mask_token_fraction=0.85, random_token_fraction=0.0))
  w = np.asarray(out['masked_weights']) > 0
  new = np.take_along_axis(np.asarray(out['input_ids']), np.asarray(out['masked_positions']), 1)[w]
  orig = np.asarray(out['masked_ids'])[w]
  assert np.all((new == 4) | (new == orig))


def test_same_key_same_mask_and_fold_in_differs():
  ids, seg = _batch()
  key = jax.random.fold_in(jax.random.key(7), 123)
  a = masking.mask_batch(key, ids, seg, TOKENS, _spec())
  b = masking.mask_batch(jax.random.fold_in(jax.random.key(7), 123), ids, seg, TOKENS, _spec())
  c = masking.mask_batch(jax.random.fold_in(jax.random.key(7), 124), ids, seg, TOKENS, _spec())
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  assert not np.array_equal(a['masked_positions'], c['masked_positions'])


def test_whole_word_masking_takes_every_piece_of_a_word():
  # Word starts: even ids >= 6 start a word, odd ids continue it.
  word_start = np.zeros(100, bool)
  word_start[:5] = True
  word_start[6::2] = True
  rng = np.random.default_rng(0)
  B, L = 64, 64
  ids = np.zeros((B, L), np.int32)
  ids[:, 0], ids[:, L - 1] = 2, 3
  ids[:, 1:L - 1] = rng.integers(5, 100, (B, L - 2))
  seg = np.ones((B, L), np.int32)
  out = masking.mask_batch(jax.random.key(5), jnp.asarray(ids), jnp.asarray(seg), TOKENS,
                           _spec(rate=0.2, max_predictions=16), jnp.asarray(word_start))
  wid = np.asarray(masking.word_ids(jnp.asarray(ids), jnp.asarray(seg), jnp.asarray(word_start)))
  w = np.asarray(out['masked_weights']) > 0
  pos = np.asarray(out['masked_positions'])
  for b in range(B):
    chosen = set(pos[b][w[b]].tolist())
    words = {wid[b, p] for p in chosen}
    members = {p for p in range(L) if wid[b, p] in words and ids[b, p] > 4}
    assert chosen == members, 'a word was masked only in part'
    assert len(chosen) <= 16


def _full_rows(B, L, seed=0):
  """Rows without padding: [CLS] random tokens [SEP]; even ids >= 6 start a word (words of 1-3
  pieces), odd ids continue one."""
  rng = np.random.default_rng(seed)
  ids = np.zeros((B, L), np.int32)
  ids[:, 0], ids[:, L - 1] = 2, 3
  for b in range(B):
    pieces = []
    while len(pieces) < L - 2:
      n = rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15])
      pieces += [2 * rng.integers(3, 50)] + [2 * rng.integers(3, 49) + 1 for _ in range(n - 1)]
    ids[b, 1:L - 1] = pieces[:L - 2]
  word_start = np.zeros(100, bool)
  word_start[:5] = True
  word_start[6::2] = True
  return jnp.asarray(ids), jnp.ones((B, L), jnp.int32), jnp.asarray(word_start)


def test_whole_words_fill_the_budget_skipping_words_that_do_not_fit():
  """BERT visits words in random order and skips one that does not fit what is left: rows
  reach their budget (single-piece words fill any remainder), none is left short."""
  ids, seg, word_start = _full_rows(64, 128)
  spec = _spec(rate=0.15, max_predictions=0)
  out = masking.mask_batch(jax.random.key(3), ids, seg, TOKENS, spec, word_start)
  budget = round(126 * 0.15)
  np.testing.assert_array_equal(np.asarray(out['masked_weights']).sum(1), budget)


@pytest.mark.parametrize('rate', [0.15, 0.30])
@pytest.mark.parametrize('length', [128, 512])
@pytest.mark.parametrize('scheme,whole_words', [('tokens', False), ('tokens', True),
                                                ('spans', True)])
def test_realised_rate_equals_configured_rate(rate, length, scheme, whole_words):
  ids, seg, word_start = _full_rows(32, length, seed=length)
  spec = _spec(rate=rate, max_predictions=0, scheme=scheme)  # derived slots: the cap never binds
  out = masking.mask_batch(jax.random.key(4), ids, seg, TOKENS, spec,
                           word_start if whole_words else None)
  realised = float(np.asarray(out['masked_weights']).sum()) / (32 * (length - 2))
  assert abs(realised - rate) < 0.005, realised
  assert out['masked_positions'].shape == (32, masking.prediction_slots(rate, length))


def test_span_lengths_follow_the_clipped_geometric_distribution():
  """SpanBERT: Geo(0.2) clipped at 10 words, mean 3.8. One span per row, so no merging or
  budget cut: each chosen run is exactly one drawn span, whole words, within one segment."""
  dist = span_masking.length_distribution(0.2, 10)
  mean = float((np.arange(1, 11) * dist).sum())
  assert abs(mean - 3.8) < 0.02
  B, L = 1024, 256
  ids, _, word_start = _full_rows(B, L, seed=7)
  seg = jnp.asarray(np.where(np.arange(L) < L // 2, 1, 2)[None].repeat(B, 0).astype(np.int32))
  # [SEP] [CLS] between the segments, and a word starts after [CLS].
  ids = ids.at[:, L // 2 - 1].set(3).at[:, L // 2].set(2).at[:, L // 2 + 1].set(6)
  special = np.zeros(100, bool)
  special[:5] = True
  cand = (seg != 0) & ~jnp.asarray(special)[ids]
  wid = masking.word_ids(ids, seg, jnp.asarray(word_start))
  chosen, span = span_masking.choose_spans(jax.random.key(8), cand, wid, seg,
                                           jnp.full((B,), L, jnp.int32), 1, 0.2, 10)
  chosen, span, wid, seg = map(np.asarray, (chosen, span, wid, seg))
  words_per_span, clipped = [], 0
  for b in range(B):
    pos = np.flatnonzero(chosen[b])
    assert len(pos) and np.all(np.diff(pos) == 1), 'a span is not contiguous'
    assert np.all(span[b, pos] == 0) and len(set(seg[b, pos])) == 1
    first, last = pos[0], pos[-1]
    assert wid[b, first - 1] != wid[b, first] and wid[b, last + 1] != wid[b, last], 'cut word'
    if last + 2 in (L // 2, L):  # ran into the end of its segment: shorter than drawn
      clipped += 1
      continue
    words_per_span.append(len(set(wid[b, pos])))
  assert clipped < B // 10
  assert abs(np.mean(words_per_span) - mean) < 0.2, np.mean(words_per_span)
  hist = np.bincount(words_per_span, minlength=11)[1:] / len(words_per_span)
  np.testing.assert_allclose(hist, dist, atol=0.04)


def test_span_replacement_is_decided_per_span():
  """80% of spans entirely [MASK], the rest without a single [MASK] (random or kept)."""
  ids, seg, word_start = _full_rows(64, 256, seed=9)
  out = masking.mask_batch(jax.random.key(10), ids, seg, TOKENS,
                           _spec(rate=0.15, max_predictions=0, scheme='spans'), word_start)
  corrupted, w = np.asarray(out['input_ids']), np.asarray(out['masked_weights']) > 0
  pos = np.asarray(out['masked_positions'])
  all_mask = none_mask = 0
  for b in range(64):
    chosen = np.zeros(256, bool)
    chosen[pos[b][w[b]]] = True
    runs = np.split(np.flatnonzero(chosen), np.flatnonzero(np.diff(np.flatnonzero(chosen)) > 1) + 1)
    for run in runs:
      masked = corrupted[b, run] == TOKENS.mask
      assert masked.all() or not masked.any(), 'one span got two replacement decisions'
      all_mask += masked.all()
      none_mask += not masked.any()
  assert 0.7 < all_mask / (all_mask + none_mask) < 0.9
