"""A distillation teacher's source, config and vocabulary: objective.teacher_workdir (an mlm_jax
workdir) or objective.teacher_hf_dir (a local Hugging Face directory), exactly one. Its
vocabulary must be the run's: the student reads the token ids the teacher was trained on.
Reading its weights and placing them on the mesh is teacher_weights.py (it needs checkpointing,
which imports the objectives that import this module).
"""
import importlib

import ml_collections

from mlm_jax import config_lib, fs
from mlm_jax.config_lib import ConfigError, require


def source(objective_cfg) -> tuple[str, str]:
  """('objective.teacher_workdir' or 'objective.teacher_hf_dir', path); one-line errors."""
  wd, hf = objective_cfg.teacher_workdir, objective_cfg.teacher_hf_dir
  require(bool(wd) != bool(hf), f'objective.name={objective_cfg.name!r} needs exactly one of '
          'objective.teacher_workdir (an mlm_jax run) and objective.teacher_hf_dir (a local '
          'Hugging Face directory)')
  key = 'objective.teacher_workdir' if wd else 'objective.teacher_hf_dir'
  path = wd or hf
  require(fs.isdir(path), f'{key}={path}: no such directory')
  return key, path


def load_config(objective_cfg) -> ml_collections.ConfigDict:
  """The teacher's model config (cheap: no weights are read)."""
  key, path = source(objective_cfg)
  if key == 'objective.teacher_workdir':
    try:
      return config_lib.load_run_config(path).model
    except (ConfigError, FileNotFoundError) as e:
      raise ConfigError(f'{key}={path}: not an mlm_jax workdir ({e})') from None
  from configs import base  # pylint: disable=g-import-not-at-top
  # Named, not imported (as family.HfExport's writers): export/ reaches checkpointing, which
  # imports the objectives that import this module.
  hf_import = importlib.import_module('mlm_jax.export.hf_import')
  c = base.get_base_config()
  try:
    hf_import.apply_overrides(c, hf_import.read_config(path))
  except ConfigError as e:
    raise ConfigError(f'{key}={path}: {e}') from None
  return c.model


def vocab_path(objective_cfg) -> str:
  key, path = source(objective_cfg)
  if key == 'objective.teacher_hf_dir':
    return path
  from mlm_jax.data import workdir_vocab  # pylint: disable=g-import-not-at-top
  return workdir_vocab.run_vocab_path(config_lib.load_run_config(path), path)


def check_vocab(objective_cfg, student_vocab) -> None:
  """The run's vocabulary (STUDENT_VOCAB, a data.vocab.Vocab) is the teacher's: same file, or
  the same pieces at the same ids."""
  from mlm_jax.data import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
  key, path = source(objective_cfg)
  teacher_path = vocab_path(objective_cfg)
  if vocab_lib.fingerprint(teacher_path) == vocab_lib.fingerprint(student_vocab.path):
    return
  theirs = vocab_lib.load(teacher_path, key)
  n = theirs.tokens.vocab_size
  same = (n == student_vocab.tokens.vocab_size and all(
      theirs.seqio_vocab.decode([i]) == student_vocab.seqio_vocab.decode([i]) for i in range(n)))
  require(same, f'{key}={path}: the teacher\'s vocabulary ({teacher_path}, {n} tokens) is not '
          f'the run\'s data.vocab_path={student_vocab.path} '
          f'({student_vocab.tokens.vocab_size} tokens): distil on the teacher\'s vocabulary')
