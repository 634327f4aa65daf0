"""Course soups (MCL, Chen et al. 2023): one model from the weighted average of the parameters of
compatible runs that branched from one trunk checkpoint (lineage.py) — e.g. the trunk continued
with different courses or objectives through init_from.workdir.

The soup is written as a workdir of its own: the first run's config.json, its vocabulary files,
and an Orbax checkpoint (step 0, fresh optimizer state) that tools/export_hf.py exports and that
`mlm_jax.main --workdir=SOUP` continues training from.
"""
import json
import os

import jax
import numpy as np

from mlm_jax import checkpointing, fs, lineage
from mlm_jax.config_lib import ConfigError, load_run_config  # noqa: F401
from mlm_jax.data import vocab as vocab_lib
from mlm_jax.data import workdir_vocab
from mlm_jax.data.vocab import fingerprint
from mlm_jax.data.workdir_vocab import run_vocab_path

SOUP_RECORD = 'soup.json'  # the ingredients: workdirs, steps, weights


def load_params(workdir: str, step: int | None = None):
  """(parameters of STEP, default the latest, as numpy on the host; the step)."""
  return checkpointing.restore_params(load_run_config(workdir), workdir, step)


def first_difference(a: dict, b: dict, prefix: str = '') -> str | None:
  """'key: A vs B' for the first key (depth first, sorted) whose values differ, else None."""
  for key in sorted(set(a) | set(b)):
    name = f'{prefix}{key}'
    if key not in a or key not in b:
      return f'{name} only in {"the first" if key in a else "the second"}'
    va, vb = a[key], b[key]
    if isinstance(va, dict) and isinstance(vb, dict):
      found = first_difference(va, vb, name + '.')
      if found:
        return found
    elif va != vb:
      return f'{name}: {va!r} vs {vb!r}'
  return None


def _flat(tree) -> dict:
  return dict(checkpointing.flat_paths(tree))


def average(trees: list, weights: list[float] | None = None, names: list[str] | None = None):
  """Weighted average of parameter trees (weights normalised to sum to 1; default uniform).

  Refuses, naming the first tensor, trees whose tensor names or shapes differ."""
  names = names or [f'checkpoint {i}' for i in range(len(trees))]
  weights = [1.0] * len(trees) if weights is None else list(weights)
  if len(weights) != len(trees):
    raise ConfigError(f'{len(weights)} weights for {len(trees)} checkpoints')
  if any(w < 0 for w in weights) or sum(weights) <= 0:
    raise ConfigError(f'weights {weights} must be >= 0 with a positive sum')
  flat = [_flat(t) for t in trees]
  for other, name in zip(flat[1:], names[1:]):
    for key in sorted(set(flat[0]) | set(other)):
      if key not in flat[0] or key not in other:
        where = names[0] if key in flat[0] else name
        raise ConfigError(f'tensor {key} exists only in {where}; {names[0]} and {name} differ')
      if np.shape(flat[0][key]) != np.shape(other[key]):
        raise ConfigError(f'tensor {key} has shape {np.shape(flat[0][key])} in {names[0]} but '
                          f'{np.shape(other[key])} in {name}')
  total = float(sum(weights))
  def mix(*leaves):
    acc = sum(np.asarray(x, np.float64) * (w / total) for x, w in zip(leaves, weights))
    return acc.astype(np.asarray(leaves[0]).dtype)
  return jax.tree.map(mix, *trees)


def _same_vocabulary(a: str, b: str) -> bool:
  if a == b:
    return True
  return fs.exists(a) and fs.exists(b) and fingerprint(a) == fingerprint(b)


def check_compatible(workdirs: list[str], configs: list) -> None:
  """Same model section, and the same vocabulary (the one each run recorded in its workdir)."""
  first = run_vocab_path(configs[0], workdirs[0])
  for wd, cfg in zip(workdirs[1:], configs[1:]):
    diff = first_difference(configs[0].model.to_dict(), cfg.model.to_dict(), 'model.')
    if diff:
      raise ConfigError(f'{workdirs[0]} and {wd} are not compatible: {diff}')
    other = run_vocab_path(cfg, wd)
    if not _same_vocabulary(first, other):
      raise ConfigError(f'{workdirs[0]} and {wd} have different vocabularies: {first} vs {other}')


def check_common_ancestor(workdirs: list[str]) -> list[str]:
  """The ancestors all WORKDIRS share; none is a one-line error naming the first outsider."""
  for wd in workdirs[1:]:
    if not lineage.common([workdirs[0], wd]):
      raise ConfigError(
          f'{workdirs[0]} and {wd} have no common ancestor: a soup averages runs branched from '
          'one trunk checkpoint (start each from it with --config.init_from.workdir=TRUNK); '
          'runs trained from scratch are permuted differently and do not average')
  return lineage.common(workdirs)


def _copy_vocabulary(workdir: str, config, out: str) -> None:
  """The soup's workdir gets the ingredients' vocabulary (recorded like a training run's)."""
  recorded = os.path.join(workdir, workdir_vocab.DIRECTORY)
  if fs.isdir(recorded):
    fs.upload_tree(recorded, os.path.join(out, workdir_vocab.DIRECTORY))
  else:  # a workdir from before vocabulary records
    workdir_vocab.save(vocab_lib.load(run_vocab_path(config, workdir)), out)


def make_soup(workdirs: list[str], out: str, weights: list[float] | None = None) -> dict:
  """Averages the latest checkpoints of WORKDIRS into the new workdir OUT; returns the record."""
  if len(workdirs) < 2:
    raise ConfigError('a soup needs at least two workdirs')
  if fs.exists(os.path.join(out, 'checkpoints')):
    raise ConfigError(f'{out} already has checkpoints; choose an empty --out')
  configs = [load_run_config(wd) for wd in workdirs]
  check_compatible(workdirs, configs)
  ancestors = check_common_ancestor(workdirs)
  trees, steps = zip(*(load_params(wd) for wd in workdirs))
  params = average(list(trees), weights, list(workdirs))

  checkpointing.write_fresh_workdir(out, configs[0], params)
  _copy_vocabulary(workdirs[0], configs[0], out)
  lineage.write(out, ancestors, soup_of=[fs.absolute(w) for w in workdirs])
  n = len(workdirs)
  record = {'workdirs': [fs.absolute(w) for w in workdirs], 'steps': list(steps),
            'weights': [w / sum(weights) for w in weights] if weights else [1 / n] * n}
  fs.write_text(os.path.join(out, SOUP_RECORD), json.dumps(record, indent=2))
  return record
