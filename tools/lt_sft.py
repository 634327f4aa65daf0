"""LT-SFT (composable sparse fine-tuning, mlm_jax/sparse_ft.py): learn a sparse difference
for a task (a fine-tuning config) or a language (continued MLM pre-training), then compose.

  # a task SFT: 5% of the encoder's entries
  python tools/lt_sft.py --config=configs/glue.py:task=sst2 --workdir=/tmp/sft_sst2 \
      --density=0.05 --config.init_from.workdir=PRE --config.finetune.data_dir=GLUE_DIR
  # a language SFT: MLM on the target language's text, from the same PRE
  python tools/lt_sft.py --config=configs/wiki.py --workdir=/tmp/sft_lang --density=0.05 \
      --config.init_from.workdir=PRE --config.data.train_files='/data/xx/*'
  # compose and score: theta_0 + phi_task + phi_language on the task's dev data (or --file)
  python tools/lt_sft.py --compose=/tmp/sft_sst2 --add=/tmp/sft_lang [--file=dev.tsv]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from mlm_jax import config_lib, main as entry, validation  # noqa: E402

_DENSITY = flags.DEFINE_float('density', 0.05, 'Share of the eligible entries the SFT keeps.')
_COMPOSE = flags.DEFINE_string('compose', '', 'A task SFT workdir to score with --add added.')
_ADD = flags.DEFINE_string('add', '', 'Comma-separated language SFT workdirs to add.')
_FILE = flags.DEFINE_string('file', '', 'Dev file to score (default: the task run\'s own).')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  import jax  # pylint: disable=g-import-not-at-top
  from mlm_jax import sparse_ft_run  # pylint: disable=g-import-not-at-top
  try:
    if _COMPOSE.value:
      from mlm_jax.finetune import evaluate  # pylint: disable=g-import-not-at-top
      lang = [d for d in _ADD.value.split(',') if d]
      out = evaluate.evaluate_workdir(
          os.path.join(_COMPOSE.value, 'sparse'), _FILE.value,
          transform=lambda cfg, params: sparse_ft_run.compose_backbone(cfg, params, lang))
    else:
      config = entry.config()
      validation.validate(config, jax.device_count())
      out = sparse_ft_run.run(config, entry.workdir(), _DENSITY.value)
  except config_lib.ConfigError as e:
    sys.exit(f'error: {e}')
  print(json.dumps(out, indent=2, default=float))


if __name__ == '__main__':
  app.run(main)
