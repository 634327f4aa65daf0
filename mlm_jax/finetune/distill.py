"""Pre-trained distillation (Turc et al. 2019, "Well-Read Students Learn Better", sec. 3): a
compact student, pre-trained with MLM, learns a task from a fine-tuned teacher's soft labels on
unlabelled task text instead of the gold labels.

finetune.distill_from names the teacher: a fine-tuned workdir of the same task and vocabulary.
Its predictions on every training row (the transfer set: the task's own training text, labels
unused) become `soft_target`: softmax(logits / finetune.distill_temperature) for
classification (the student's loss: cross-entropy to them, its logits divided by the same
temperature), the predicted value for regression (squared error). Dev scoring is unchanged.

Our readings: the transfer set is the task's training text (the paper also distils on larger
unlabelled task-domain sets: give them with finetune.train_file); temperature 1 by default (the
paper's distillation is cross-entropy to the teacher's predictive distribution); a last
fine-tuning on gold labels after distillation is a second run, not built in.
"""
import numpy as np

from mlm_jax.config_lib import ConfigError, require


def check(config, vocab_path: str) -> None:
  """The teacher is a fine-tuned workdir of this task and vocabulary (one-line errors)."""
  from mlm_jax import config_lib, fs  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import vocab as vocab_lib, workdir_vocab  # pylint: disable=g-import-not-at-top
  f = config.finetune
  key = f'finetune.distill_from={f.distill_from}'
  require(fs.isdir(f.distill_from), f'{key}: no such directory')
  try:
    teacher = config_lib.load_run_config(f.distill_from)
  except (ConfigError, FileNotFoundError):
    raise ConfigError(f'{key}: not an mlm_jax workdir (no config.json)') from None
  require(teacher.finetune.task == f.task, f'{key}: the teacher was fine-tuned on '
          f'{teacher.finetune.task!r}, not finetune.task={f.task!r}')
  require(teacher.finetune.method == 'head' and f.method == 'head' and f.task != 'squad',
          f'{key}: distillation covers GLUE tasks with a task head')
  require(f.distill_temperature > 0, f'finetune.distill_temperature={f.distill_temperature} '
          'must be > 0')
  theirs = workdir_vocab.run_vocab_path(teacher, f.distill_from)
  require(vocab_lib.fingerprint(theirs) == vocab_lib.fingerprint(vocab_path),
          f'{key}: the teacher\'s vocabulary ({theirs}) is not this run\'s ({vocab_path})')


def soften(outputs: np.ndarray, temperature: float, regression: bool) -> np.ndarray:
  """The teacher's OUTPUTS (runner.teacher_outputs) as soft labels: softmax(logits / T), or the
  predicted value for regression."""
  if regression:
    return outputs[:, 0]
  z = outputs / temperature
  z = np.exp(z - z.max(axis=-1, keepdims=True))
  return z / z.sum(axis=-1, keepdims=True)
