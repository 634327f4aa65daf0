"""Scores composed sparse fine-tunings (LT-SFT, mlm_jax/sparse_ft.py): a task SFT's workdir
(tools/lt_sft.py with a fine-tuning config: theta_0 + phi_task and its head) plus language
SFTs (tools/lt_sft.py with continued MLM pre-training), added to the encoder:
theta_0 + phi_task + sum phi_language, on the task's dev data or --file.

python tools/lt_sft_compose.py --task=/tmp/sft_sst2 --add=/tmp/sft_lang [--file=dev.tsv]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from mlm_jax.config_lib import ConfigError  # noqa: E402


def define_flags() -> None:
  """Defined when run as a command only, so tests can import this module beside others."""
  flags.DEFINE_string('task', None, 'A task SFT workdir (tools/lt_sft.py --workdir).')
  flags.DEFINE_string('add', '', 'Comma-separated language SFT workdirs to add (none: the '
                      'task SFT alone).')
  flags.DEFINE_string('file', '', "Dev file to score (default: the task run's own).")


def score(task_dir: str, lang_dirs: list[str], dev_file: str = '') -> dict:
  from mlm_jax import sparse_ft_run  # pylint: disable=g-import-not-at-top
  from mlm_jax.finetune import evaluate  # pylint: disable=g-import-not-at-top
  sparse = os.path.join(task_dir, 'sparse')
  if not os.path.isdir(sparse):
    raise ConfigError(f'--task={task_dir}: no sparse phase there (run tools/lt_sft.py first)')
  for d in lang_dirs:
    if not os.path.isfile(os.path.join(d, sparse_ft_run.SFT)):
      raise ConfigError(f'--add: {d} holds no {sparse_ft_run.SFT} (run tools/lt_sft.py first)')
  return evaluate.evaluate_workdir(
      sparse, dev_file,
      transform=lambda cfg, params: sparse_ft_run.compose_backbone(cfg, params, lang_dirs))


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  try:
    if not f.task:
      raise ConfigError('--task is required')
    out = score(f.task, [d for d in f.add.split(',') if d], f.file)
  except ConfigError as e:
    sys.exit(f'error: {e}')
  print(json.dumps(out, indent=2, default=float))


if __name__ == '__main__':
  define_flags()
  app.run(main)
