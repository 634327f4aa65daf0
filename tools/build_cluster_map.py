"""Build C-RTS's token -> cluster map: k-means of a trained token-embedding table.

python tools/build_cluster_map.py --workdir=/tmp/mlm_run --clusters=256 --out=/tmp/clusters.txt
python tools/build_cluster_map.py --hf_dir=/models/bert --clusters=256 --out=/tmp/clusters.txt
Then train with configs/substitution.py:objective=crts and
--config.objective.crts_cluster_map=/tmp/clusters.txt --config.objective.crts_clusters=256, on
the vocabulary of that model (one line per embedding row: line i is token i's cluster).

k-means (scikit-learn's, k-means++ init) on the rows normalised to unit length, so tokens whose
embeddings point the same way share a cluster. The C-RTS paper does not say how its clusters
were made; this is our reading.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402
import numpy as np  # noqa: E402

from mlm_jax.config_lib import ConfigError  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'mlm_jax workdir whose latest checkpoint holds '
                               'the embedding table.')
_HF_DIR = flags.DEFINE_string('hf_dir', None, 'Local Hugging Face directory (model.safetensors '
                              'or pytorch_model.bin) instead of a workdir.')
_CLUSTERS = flags.DEFINE_integer('clusters', 256, 'Number of clusters C.')
_OUT = flags.DEFINE_string('out', None, 'Output text file (local or gs://).', required=True)
_SEED = flags.DEFINE_integer('seed', 0, 'k-means seed.')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from mlm_jax import cluster_map  # pylint: disable=g-import-not-at-top
  from tools import embedding_clusters as clusters  # pylint: disable=g-import-not-at-top
  try:
    if bool(_WORKDIR.value) == bool(_HF_DIR.value):
      raise ConfigError('give exactly one of --workdir and --hf_dir')
    table = (clusters.workdir_table(_WORKDIR.value) if _WORKDIR.value
             else clusters.hf_table(_HF_DIR.value))
    if not 2 <= _CLUSTERS.value <= len(table):
      raise ConfigError(f'--clusters={_CLUSTERS.value} must be in [2, {len(table)}] (the '
                        'embedding rows)')
    cluster_V = clusters.kmeans(table, _CLUSTERS.value, _SEED.value)
    cluster_map.save(cluster_V, _OUT.value)
  except ConfigError as e:
    sys.exit(f'error: {e}')
  sizes = np.bincount(cluster_V)
  print(f'{len(cluster_V)} tokens in {len(sizes)} clusters (sizes {sizes.min()}..{sizes.max()}, '
        f'median {int(np.median(sizes))}) at {_OUT.value}\n'
        f'train with --config.objective.crts_cluster_map={_OUT.value} '
        f'--config.objective.crts_clusters={len(sizes)}')


if __name__ == '__main__':
  app.run(main)
