"""Scores a fine-tuned workdir on a dev file without training.

python tools/finetune_eval.py --workdir=FT_DIR [--file=dev.tsv] [--step=N]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from mlm_jax.config_lib import ConfigError  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'Fine-tuning workdir.', required=True)
_FILE = flags.DEFINE_string('file', '', 'Dev file (GLUE .tsv, SQuAD .json[.gz]); default: the '
                            "run's own dev data.")
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from mlm_jax.finetune import evaluate  # pylint: disable=g-import-not-at-top
  try:
    out = evaluate.evaluate_workdir(_WORKDIR.value, _FILE.value, _STEP.value)
  except ConfigError as e:
    sys.exit(f'error: {e}')
  print(json.dumps(out, indent=2))


if __name__ == '__main__':
  app.run(main)
