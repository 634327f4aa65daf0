"""What a training checkpoint holds, without restoring it: step, steps on disk, the run's
model and objective, every array's path, shape, dtype and size, and the totals.

python tools/inspect_checkpoint.py --workdir=/tmp/mlm_demo [--step=N] [--json]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'Training workdir.', required=True)
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
_JSON = flags.DEFINE_bool('json', False, 'Print one JSON object instead of the table.')


def _mib(n: int) -> str:
  return f'{n / 2**20:,.2f} MiB'


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from mlm_jax import checkpointing, config_lib  # pylint: disable=g-import-not-at-top
  try:
    info = checkpointing.describe(_WORKDIR.value, _STEP.value)
    config = config_lib.load_run_config(_WORKDIR.value)
  except config_lib.ConfigError as e:
    sys.exit(f'error: {e}')
  m = config.model
  info['config'] = {'model': m.name, 'layers': m.num_layers, 'hidden': m.hidden_size,
                    'heads': m.num_heads, 'vocab_size': m.vocab_size,
                    'objective': config.objective.name, 'train_steps': config.train.steps,
                    'batch_size': config.train.batch_size, 'seq_len': config.data.seq_len}
  if _JSON.value:
    print(json.dumps(info, indent=2))
    return
  print(f'{info["workdir"]}: step {info["step"]} (steps on disk: {info["steps"]})')
  print('config: ' + ', '.join(f'{k} {v}' for k, v in info['config'].items()))
  width = max(len(leaf['path']) for leaf in info['leaves'])
  for leaf in info['leaves']:
    shape = 'x'.join(map(str, leaf['shape'])) or 'scalar'
    print(f'  {leaf["path"]:<{width}}  {shape:>14}  {leaf["dtype"]:>8}  {_mib(leaf["bytes"]):>12}')
  for part, n in info['bytes_by_part'].items():
    print(f'{part}: {_mib(n)}')
  print(f'total: {_mib(info["bytes"])} in arrays, {_mib(info["bytes_on_disk"])} on disk')


if __name__ == '__main__':
  app.run(main)
