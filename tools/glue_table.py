"""Fine-tunes one checkpoint on GLUE tasks with several seeds and prints the papers' table:
per task the median over seeds, the spread (min-max), and the GLUE average; also as JSON.

python tools/glue_table.py --init_from=PRETRAIN_DIR --glue_dir=GLUE --tasks=sst2,cola,mrpc \
    --seeds=3 --workdir=ROOT [--preset=electra --size=small] [--set=finetune.train_examples=2000]

Each run lives in ROOT/<task>/seed_<k>; a finished run (finetune_result.json) is not repeated.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if __name__ == '__main__':  # CPU hosts train under mimalloc (mlm_jax/host_allocator.py)
  from mlm_jax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.maybe_reexec()

from absl import app, flags, logging  # noqa: E402

from mlm_jax.config_lib import ConfigError  # noqa: E402

_INIT = flags.DEFINE_string('init_from', '', 'mlm_jax pre-training workdir.')
_HF = flags.DEFINE_string('hf_dir', '', 'Or a local Hugging Face checkpoint directory.')
_GLUE = flags.DEFINE_string('glue_dir', None, 'GLUE root (original TSV layout).', required=True)
_TASKS = flags.DEFINE_list('tasks', ['sst2', 'cola', 'mrpc', 'stsb', 'rte'], 'GLUE tasks.')
_SEEDS = flags.DEFINE_integer('seeds', 3, 'Seeds per task (0..seeds-1).')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Root of the runs.', required=True)
_PRESET = flags.DEFINE_string('preset', '', 'A configs/glue.py preset (default: its own).')
_SIZE = flags.DEFINE_string('size', 'base', 'ELECTRA preset size.')
_SET = flags.DEFINE_multi_string('set', [], 'Config overrides KEY=VALUE (repeatable).')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from configs import glue as glue_config  # pylint: disable=g-import-not-at-top
  from mlm_jax.finetune import suite  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  results = {}
  try:
    for task in _TASKS.value:
      preset = f',preset={_PRESET.value}' if _PRESET.value else ''
      base = ml_collections.ConfigDict(glue_config.get_config(
          f'task={task}{preset},size={_SIZE.value}').to_dict())
      base.init_from.workdir, base.init_from.hf_dir = _INIT.value, _HF.value
      base.finetune.data_dir = _GLUE.value
      for assignment in _SET.value:
        suite.set_override(base, assignment)
      results[task] = [suite.run_one(base, task, k, os.path.join(_WORKDIR.value, task, f'seed_{k}'))
                       for k in range(_SEEDS.value)]
  except ConfigError as e:
    sys.exit(f'error: {e}')
  summary = suite.summarize(results)
  with open(os.path.join(_WORKDIR.value, 'glue_table.json'), 'w', encoding='utf-8') as f:
    json.dump({'summary': summary, 'runs': results}, f, indent=2)
  print(suite.markdown(summary))
  print(json.dumps(summary))


if __name__ == '__main__':
  app.run(main)
