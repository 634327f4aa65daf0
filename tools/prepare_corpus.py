"""Tokenize and pack a configured corpus once, into TFRecord shards plus manifest.json.

python tools/prepare_corpus.py --config=configs/wiki.py --workdir=/tmp/scratch \
    --out=/data/prepared/wiki_128 --shards=64
Train from it with --config.data.task=prepared --config.data.prepared_dir=OUT (and the same
data.vocab_path and data.seq_len: the trainer checks both against the manifest). Rows are
written in corpus order; training shuffles them and each host reads its own shard files.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from mlm_jax import config_lib, main as entry, validation  # noqa: E402

_OUT = flags.DEFINE_string('out', None, 'Output directory.', required=True)
_SHARDS = flags.DEFINE_integer('shards', 8, 'Files per split (>= the number of hosts that will '
                               'read it, so each host reads whole files).')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from mlm_jax.data import prepare  # pylint: disable=g-import-not-at-top
  config = entry.config()
  workdir = entry.workdir()
  d = config.data
  try:
    validation.validate(config, 1)
    t0 = time.time()
    manifest = prepare.prepare(d, workdir, _OUT.value, _SHARDS.value)
  except config_lib.ConfigError as e:
    sys.exit(f'error: {e}')
  for split, info in manifest['splits'].items():
    print(f'{split}: {info["documents"]:,} documents -> {info["rows"]:,} rows of {d.seq_len} '
          f'({info["tokens"] / max(info["rows"] * d.seq_len, 1):.1%} non-pad) in '
          f'{len(info["files"])} files')
  print(f'wrote {_OUT.value}/manifest.json in {time.time() - t0:.1f}s')


if __name__ == '__main__':
  app.run(main, flags_parser=entry.parse_flags)
