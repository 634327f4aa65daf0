"""Course soup: average the parameters of compatible runs branched from one trunk checkpoint
(each started with --config.init_from.workdir=TRUNK) into a new workdir (MCL's course soups).

python tools/soup.py --workdirs=/tmp/rtd,/tmp/gc[,...] --out=/tmp/soup [--weights=0.5,0.5]
The runs must share the config's model section (and vocabulary); the latest checkpoint of each
is used. OUT gets config.json, the vocabulary and a step-0 checkpoint: export it with
tools/export_hf.py --workdir=OUT, or continue training with mlm_jax.main --workdir=OUT.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from mlm_jax.config_lib import ConfigError  # noqa: E402

_WORKDIRS = flags.DEFINE_list('workdirs', None, 'Comma-separated training workdirs.', required=True)
_OUT = flags.DEFINE_string('out', None, 'New workdir for the soup.', required=True)
_WEIGHTS = flags.DEFINE_list('weights', None, 'One weight per workdir (default: uniform).')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from mlm_jax import soup  # pylint: disable=g-import-not-at-top
  try:
    weights = [float(w) for w in _WEIGHTS.value] if _WEIGHTS.value else None
  except ValueError:
    sys.exit(f'error: --weights={",".join(_WEIGHTS.value)} must be numbers')
  try:
    record = soup.make_soup(_WORKDIRS.value, _OUT.value, weights)
  except ConfigError as e:
    sys.exit(f'error: {e}')
  parts = ', '.join(f'{w} (step {s}) x {x:.3f}'
                    for w, s, x in zip(_WORKDIRS.value, record['steps'], record['weights']))
  print(f'soup of {parts} written to {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
