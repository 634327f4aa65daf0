"""LT-SFT (composable sparse fine-tuning, mlm_jax/sparse_ft.py): learn a sparse difference
for a task (a fine-tuning config) or a language (continued MLM pre-training), then compose.

  # a task SFT: 5% of the encoder's entries
  python tools/lt_sft.py --config=configs/glue.py:task=sst2 --workdir=/tmp/sft_sst2 \
      --density=0.05 --config.init_from.workdir=PRE --config.finetune.data_dir=GLUE_DIR
  # a language SFT: MLM on the target language's text, from the same PRE
  python tools/lt_sft.py --config=configs/wiki.py --workdir=/tmp/sft_lang --density=0.05 \
      --config.init_from.workdir=PRE --config.data.train_files='/data/xx/*'
  # compose and score: tools/lt_sft_compose.py
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from mlm_jax import config_lib, main as entry, validation  # noqa: E402

_DENSITY = flags.DEFINE_float('density', 0.05, 'Share of the eligible entries the SFT keeps.')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  import jax  # pylint: disable=g-import-not-at-top
  from mlm_jax import sparse_ft_run  # pylint: disable=g-import-not-at-top
  try:
    config = entry.config()
    validation.validate(config, jax.device_count())
    out = sparse_ft_run.run(config, entry.workdir(), _DENSITY.value)
  except config_lib.ConfigError as e:
    sys.exit(f'error: {e}')
  print(json.dumps(out, indent=2, default=float))


if __name__ == '__main__':
  app.run(main)
