"""OFA-style initialisation of a new or extended vocabulary's embeddings for continued
pre-training (Liu et al., Findings NAACL 2024, "OFA: a framework of initializing unseen subword
embeddings").

1. Factorise the source embeddings E (V_s x D) by SVD: E ~ P C with primitive embeddings
   P = U_k S_k (V_s x k) and coordinates C = V_k^T (k x D), k = `rank`.
2. Primitive rows of the target vocabulary: a piece the source vocabulary also has (same piece
   string) copies its row; a special token copies the source's token of the same role; any other
   piece is the mean of the primitive rows of the source pieces its surface text splits into
   under the SOURCE tokenizer; a piece with no such split gets a normal draw with the source
   rows' spread.
3. Target embeddings E_t = P_t C (multiplied out: BERT-style families keep one table).

Our reading of step 2: OFA weighs the source pieces most similar to a new piece under external
multilingual word vectors; with no such vectors at hand (nothing is downloaded), the new piece's
own decomposition by the source tokenizer — its overlap with the old vocabulary — gives the
source pieces, equally weighted.
"""
import numpy as np


def factorize(table_VD: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
  """(P (V, rank), C (rank, D)) with P @ C the best rank-`rank` approximation of TABLE."""
  u, s, vt = np.linalg.svd(np.asarray(table_VD, np.float64), full_matrices=False)
  return (u[:, :rank] * s[:rank]).astype(np.float32), vt[:rank].astype(np.float32)


def surface(piece: str) -> str:
  """A piece's text without the continuation / word-start markers (WordPiece ##, SentencePiece
  and byte-level BPE word starts)."""
  for marker in ('##', '\u2581', '\u0120'):
    if piece.startswith(marker):
      return piece[len(marker):]
  return piece


def target_rows(source_pieces: list[str], target_pieces: list[str], encode_source,
                special_map: dict[int, int]) -> list[tuple[str, list[int]]]:
  """Per target id: ('copy', [source id]) | ('special', [source id]) | ('mean', [source ids]) |
  ('random', []). ENCODE_SOURCE: text -> source ids; SPECIAL_MAP: target id -> source id of the
  special token with the same role."""
  index = {p: i for i, p in enumerate(source_pieces)}
  out = []
  for t, piece in enumerate(target_pieces):
    if t in special_map:
      out.append(('special', [special_map[t]]))
    elif piece in index:
      out.append(('copy', [index[piece]]))
    else:
      text = surface(piece)
      ids = [i for i in encode_source(text) if i not in special_map.values()] if text else []
      out.append(('mean', ids) if ids else ('random', []))
  return out


def initialize(table_VD: np.ndarray, rows, rank: int, seed: int = 0) -> np.ndarray:
  """The target table (V_t, D) from the source TABLE and target_rows' plan."""
  p, c = factorize(table_VD, rank)
  rng = np.random.default_rng(seed)
  spread = p.std(axis=0)
  out = np.empty((len(rows), p.shape[1]), np.float32)
  for t, (how, ids) in enumerate(rows):
    out[t] = p[ids].mean(axis=0) if ids else rng.normal(0.0, spread).astype(np.float32)
    del how
  return out @ c


def summary(rows) -> dict[str, int]:
  counts = {'copy': 0, 'special': 0, 'mean': 0, 'random': 0}
  for how, _ in rows:
    counts[how] += 1
  return counts
