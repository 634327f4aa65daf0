"""ERNIE-Gram's n-gram lexicon from a tokenized corpus: the T-test of n-gram extraction.

For each length l = 2..N, every l-gram s of token ids inside a document is counted; with
p(s) = count(s) / N_l (N_l: l-gram occurrences) and the independence hypothesis
p0(s) = prod_i p(x_i) (unigram probabilities), t(s) = (p(s) - p0(s)) / sqrt(p(s)(1 - p(s)) / N_l).
The top `size / (N - 1)` n-grams of each length by t (count >= min_count, t > 0) form V_N.

Readings of ours (the paper's section on n-gram extraction gives the T-test; its thresholds and
sizes are not in the parts we could read): the size is split evenly over the lengths; an
n-gram must start at a word start and end at a word end (it holds whole words: 'prime
minister', never half a word) and holds no special token and no punctuation (a token with no
letter or digit); counts never cross documents.
"""
from typing import Iterable

import numpy as np

from mlm_jax import ngrams


def _windows(ids: np.ndarray, n: int) -> np.ndarray:
  return np.lib.stride_tricks.sliding_window_view(ids, n)


def build(documents: Iterable[np.ndarray], word_start_V: np.ndarray, excluded: tuple[int, ...],
          vocab_size: int, vocab_fingerprint: str, max_len: int = 3, size: int = 10_000,
          min_count: int = 5) -> ngrams.Lexicon:
  """documents: token-id arrays, one per document (no [CLS]/[SEP]); no n-gram holds an
  EXCLUDED id (special tokens; the tool adds punctuation)."""
  if max_len < 2:
    raise ValueError(f'max_len={max_len} must be at least 2')
  if float(vocab_size) ** max_len >= 2.0 ** 63:
    raise ValueError(f'vocab_size={vocab_size} ** max_len={max_len} does not fit an int64 key')
  docs = [np.asarray(d, np.int64) for d in documents if len(d)]
  if not docs:
    raise ValueError('no documents')
  unigram = np.bincount(np.concatenate(docs), minlength=vocab_size).astype(np.float64)
  p1 = unigram / unigram.sum()
  bad_V = np.zeros(vocab_size, bool)
  bad_V[list(excluded)] = True
  starts_V = np.asarray(word_start_V, bool)[:vocab_size]
  per_len = -(-size // (max_len - 1))
  rows = []
  for n in range(2, max_len + 1):
    keys = []
    for d in docs:
      if len(d) < n:
        continue
      w = _windows(d, n)
      nxt = np.append(d[n:], -1)[:len(w)]  # the token after each window (-1: document end)
      ok = starts_V[w[:, 0]] & ~bad_V[w].any(axis=1)
      ok &= (nxt < 0) | starts_V[np.maximum(nxt, 0)]
      keys.append((w[ok] * vocab_size ** np.arange(n)).sum(axis=1))
    if not keys:
      continue
    all_keys = np.concatenate(keys)
    if not len(all_keys):
      continue
    uniq, counts = np.unique(all_keys, return_counts=True)
    total = float(len(all_keys))
    ids = (uniq[:, None] // vocab_size ** np.arange(n)) % vocab_size
    p = counts / total
    p0 = np.prod(p1[ids], axis=1)
    t = (p - p0) / np.sqrt(p * (1 - p) / total)
    keep = (counts >= min_count) & (t > 0)
    order = np.argsort(-t[keep], kind='stable')[:per_len]
    for k in np.flatnonzero(keep)[order]:
      rows.append((t[k], counts[k], n, ids[k]))
  return _assemble(rows, max_len, vocab_size, vocab_fingerprint)


def _assemble(rows, max_len: int, vocab_size: int, vocab_fingerprint: str) -> ngrams.Lexicon:
  """Rows sorted by hash; of two n-grams with one hash the one with the larger t stays."""
  by_hash = {}
  for t, count, n, ids in rows:
    h = int(ngrams.ngram_hash([np.asarray([i]) for i in ids], n)[0])
    if h not in by_hash or by_hash[h][0] < t:
      by_hash[h] = (t, count, n, ids)
  hashes = np.array(sorted(by_hash), np.uint32)
  table = np.full((len(hashes), max_len), -1, np.int32)
  lengths, tstat, counts = (np.zeros(len(hashes), dt) for dt in (np.int32, np.float32, np.int64))
  for k, h in enumerate(hashes):
    t, count, n, ids = by_hash[int(h)]
    table[k, :n], lengths[k], tstat[k], counts[k] = ids, n, t, count
  return ngrams.Lexicon(table, lengths, hashes, tstat, counts, vocab_size, vocab_fingerprint)
