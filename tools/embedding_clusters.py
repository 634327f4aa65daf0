"""Token clusters from a trained embedding table (C-RTS's token -> cluster map): the table of an
mlm_jax workdir or a local Hugging Face directory, and k-means of its rows. Flag-free, so
tools/build_cluster_map.py and tools/shootout.py share it (mlm_jax/cluster_map.py reads and writes
the map files)."""
import numpy as np

from mlm_jax.config_lib import ConfigError

HF_EMBEDDING_SUFFIXES = ('word_embeddings.weight', 'tok_embeddings.weight')


def workdir_table(workdir: str) -> np.ndarray:
  """The token-embedding table (V, D) of WORKDIR's latest checkpoint."""
  from mlm_jax import checkpointing, config_lib, models  # pylint: disable=g-import-not-at-top
  config = config_lib.load_run_config(workdir)
  params, _ = checkpointing.restore_params(config, workdir)
  encoder = models.family(config.model).encoder_params(config.model, params)
  return np.asarray(encoder['embeddings']['word_embeddings']['embedding'], np.float32)


def hf_table(hf_dir: str) -> np.ndarray:
  """The token-embedding table (V, D) of a local Hugging Face checkpoint directory."""
  from mlm_jax.export import hf_import  # pylint: disable=g-import-not-at-top
  tensors = hf_import.read_state_dict(hf_dir)
  names = [k for k in tensors if k.endswith(HF_EMBEDDING_SUFFIXES)]
  if not names:
    raise ConfigError(f'--hf_dir={hf_dir}: no tensor ending in {HF_EMBEDDING_SUFFIXES}')
  return np.asarray(tensors[sorted(names, key=len)[0]], np.float32)


def kmeans(table_VD: np.ndarray, clusters: int, seed: int) -> np.ndarray:
  """(V,) cluster ids 0..C-1 (relabelled densely, so every id has a member): scikit-learn's
  k-means (k-means++ init) of the rows normalised to unit length, so tokens whose embeddings
  point the same way share a cluster. How the C-RTS authors built theirs is not published: our
  reading."""
  from sklearn.cluster import KMeans  # pylint: disable=g-import-not-at-top
  unit = table_VD / np.maximum(np.linalg.norm(table_VD, axis=1, keepdims=True), 1e-12)
  labels = KMeans(clusters, n_init=1, random_state=seed).fit_predict(unit)
  return np.unique(labels, return_inverse=True)[1].astype(np.int32)
