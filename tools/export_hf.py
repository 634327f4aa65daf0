"""Export a training workdir to Hugging Face format (PyTorch-layout safetensors + tokenizer).

python tools/export_hf.py --workdir=/tmp/mlm_demo --out=/tmp/mlm_demo_hf [--step=N]
Then: transformers.AutoModelForMaskedLM.from_pretrained('/tmp/mlm_demo_hf')
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from mlm_jax.config_lib import ConfigError  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'Training workdir to export.', required=True)
_OUT = flags.DEFINE_string('out', None, 'Output directory.', required=True)
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from mlm_jax.export import hf_export  # pylint: disable=g-import-not-at-top
  try:
    step = hf_export.export(_WORKDIR.value, _OUT.value, _STEP.value)
  except ConfigError as e:
    sys.exit(f'error: {e}')
  print(f'exported step {step} of {_WORKDIR.value} to {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
