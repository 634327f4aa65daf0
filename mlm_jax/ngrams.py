"""An n-gram lexicon file (ERNIE-Gram's V_N): token-id n-grams, looked up on device by hash.

tools/build_ngram_lexicon.py writes it (data/ngram_lexicon.py finds the n-grams); the
ernie_gram objective reads it. One .npz holding:
  ngrams (K, N) int32   token ids, -1 after the n-gram's end; row k is n-gram id V + k
  lengths (K,) int32    2..N
  hashes (K,) uint32    ngram_hash of each row, sorted ascending (rows are stored in that order)
  tstat, counts (K,)    the T-statistic and corpus count it was chosen by (for reports)
  vocab_size, vocab_fingerprint   the vocabulary the ids belong to
Hashes are unique in a file (the builder drops the weaker of two colliding n-grams), so a
lookup is a binary search plus an exact comparison of the ids.
"""
import dataclasses
import os

import numpy as np

from mlm_jax import fs
from mlm_jax.config_lib import ConfigError

_SEED = np.uint32(0x9E3779B1)
_PRIME = np.uint32(0x01000193)


def ngram_hash(ids_list, n: int):
  """uint32 hash of the n-gram ids_list[0..n-1] (arrays of equal shape: numpy or jax)."""
  h = ids_list[0].astype(np.uint32) * 0 + np.uint32((int(n) * int(_SEED)) & 0xFFFFFFFF)
  for ids in ids_list[:int(n)]:
    h = (h ^ ids.astype(np.uint32)) * _PRIME
  return h


@dataclasses.dataclass(frozen=True)
class Lexicon:
  ngrams: np.ndarray
  lengths: np.ndarray
  hashes: np.ndarray
  tstat: np.ndarray
  counts: np.ndarray
  vocab_size: int
  vocab_fingerprint: str

  @property
  def size(self) -> int:
    return len(self.lengths)

  @property
  def max_len(self) -> int:
    return self.ngrams.shape[1]


def save(lex: Lexicon, path: str) -> None:
  tmp = path + '.tmp.npz'
  np.savez(tmp, ngrams=lex.ngrams, lengths=lex.lengths, hashes=lex.hashes, tstat=lex.tstat,
           counts=lex.counts, vocab_size=np.int64(lex.vocab_size),
           vocab_fingerprint=np.array(lex.vocab_fingerprint))
  os.replace(tmp, path)  # never a half-written lexicon


def load(path: str, key: str = 'objective.ngram_lexicon') -> Lexicon:
  """The lexicon at PATH; ConfigError naming KEY and PATH when it is missing or not one."""
  if not path:
    raise ConfigError(f'{key} is empty: n-gram masking needs a lexicon '
                      '(tools/build_ngram_lexicon.py writes one)')
  if not fs.isfile(path):
    raise ConfigError(f'{key}={path}: no such file')
  try:
    with np.load(fs.cached_local(path)) as z:
      lex = Lexicon(z['ngrams'], z['lengths'], z['hashes'], z['tstat'], z['counts'],
                    int(z['vocab_size']), str(z['vocab_fingerprint']))
  except (OSError, ValueError, KeyError) as e:
    raise ConfigError(f'{key}={path}: not an n-gram lexicon ({type(e).__name__})') from None
  if lex.size == 0:
    raise ConfigError(f'{key}={path}: the lexicon is empty')
  return lex
