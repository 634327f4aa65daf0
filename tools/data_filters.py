"""Counts what each document filter of the configured training data removes (data.filter.*:
subset, age, domain, quality, toxicity; mlm_jax/data/filters.py), and prints the quality and
toxicity scores' quantiles, to choose a threshold that removes a target share.

python tools/data_filters.py --config=configs/wiki.py --workdir=/tmp/scratch \
    --config.data.filter.quality_model=/tmp/quality.npz --config.data.filter.quality_threshold=0.3
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from mlm_jax import config_lib, main as entry, validation  # noqa: E402

_MAX_DOCS = flags.DEFINE_integer('max_docs', 0, 'Count only the first N documents (0: all).')
_JSON = flags.DEFINE_string('json', '', 'Also write the counts to this JSON file.')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from mlm_jax.data import filter_counts  # pylint: disable=g-import-not-at-top
  config = entry.config()
  try:
    validation.validate(config, 1)
    counts = filter_counts.count(config.data, entry.workdir(), _MAX_DOCS.value)
  except config_lib.ConfigError as e:
    sys.exit(f'error: {e}')
  print(filter_counts.table(counts))
  if _JSON.value:
    with open(_JSON.value, 'w', encoding='utf-8') as f:
      json.dump(counts, f, indent=2)


if __name__ == '__main__':
  app.run(main)
