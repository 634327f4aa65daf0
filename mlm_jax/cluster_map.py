"""A token -> cluster map file (C-RTS): line i holds the cluster id of token id i, the format of
the C-RTS authors' `--clusters_filename` (lucadiliello/transformers-framework, read_clusters).

tools/build_cluster_map.py writes one (k-means of a trained token-embedding table); the crts
objective reads it. Ids are 0..C-1 with C = the largest id + 1; the map is fixed for a run.
"""
import numpy as np

from mlm_jax import fs
from mlm_jax.config_lib import ConfigError


def save(cluster_V: np.ndarray, path: str) -> None:
  fs.write_text(path, ''.join(f'{int(c)}\n' for c in cluster_V))


def load(path: str, vocab_size: int | None = None, key: str = 'objective.crts_cluster_map'
         ) -> np.ndarray:
  """The int32 map of every line (at least VOCAB_SIZE of them); one-line errors for a missing
  file, a bad line, too few tokens."""
  if not path:
    raise ConfigError(f'{key} is empty: crts draws substitutes by cluster '
                      '(tools/build_cluster_map.py writes a map)')
  if not fs.exists(path):
    raise ConfigError(f'{key}={path}: no such file')
  lines = fs.read_text(path).split()
  try:
    cluster_V = np.array([int(x) for x in lines], np.int64)
  except ValueError:
    bad = next(x for x in lines if not x.lstrip('-').isdigit())
    raise ConfigError(f'{key}={path}: {bad!r} is not a cluster id (one integer per line)') from None
  if not len(cluster_V) or cluster_V.min() < 0:
    raise ConfigError(f'{key}={path}: needs one cluster id >= 0 per token, one per line')
  if vocab_size is not None and len(cluster_V) < vocab_size:
    raise ConfigError(f'{key}={path} maps {len(cluster_V)} tokens; the vocabulary has '
                      f'{vocab_size}: build it from a model with this vocabulary')
  return cluster_V.astype(np.int32)


def num_clusters(cluster_V: np.ndarray) -> int:
  return int(cluster_V.max()) + 1
