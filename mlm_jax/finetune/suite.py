"""The GLUE table the papers print: fine-tune one checkpoint per task and seed (cached per run
directory), then per task the median over seeds of the task's score with its spread (min-max),
and the GLUE average of the task medians."""
import json
import os
import statistics

import ml_collections

from mlm_jax import fs
from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import runner

# The numbers each task reports (the score is their mean where there are two).
SHOWN = {'cola': ('matthews_corr',), 'sst2': ('accuracy',), 'mrpc': ('f1', 'accuracy'),
         'qqp': ('f1', 'accuracy'), 'stsb': ('pearson', 'spearman'),
         'mnli': ('dev_matched/accuracy', 'dev_mismatched/accuracy'), 'qnli': ('accuracy',),
         'rte': ('accuracy',), 'wnli': ('accuracy',)}


def set_override(config, assignment: str) -> None:
  """'finetune.train_examples=500' -> config.finetune.train_examples = 500 (typed as the key)."""
  key, sep, value = assignment.partition('=')
  if not sep:
    raise ConfigError(f'--set {assignment!r} is not KEY=VALUE')
  node = config
  *parents, leaf = key.split('.')
  for p in parents:
    if p not in node:
      raise ConfigError(f'--set: unknown config key {key}')
    node = node[p]
  if leaf not in node:
    raise ConfigError(f'--set: unknown config key {key}')
  old = node[leaf]
  try:
    node[leaf] = (value.lower() in ('1', 'true', 'yes')) if isinstance(old, bool) else (
        type(old)(value))
  except (TypeError, ValueError):
    kind = type(old).__name__
    raise ConfigError(f"--set {key}={value!r}: not of the key's type, {kind}") from None


def run_one(base_config, task: str, seed: int, workdir: str) -> dict:
  """One fine-tune, or its cached result when WORKDIR already finished."""
  path = os.path.join(workdir, runner.RESULT)
  if fs.isfile(path):
    return json.loads(fs.read_text(path))['metrics']
  config = ml_collections.ConfigDict(base_config.to_dict())
  config.seed = seed
  return runner.run(config, workdir)


def summarize(results: dict[str, list[dict]]) -> dict:
  """{task: [metrics per seed]} -> {'tasks': {task: {...}}, 'glue_average': float}."""
  tasks = {}
  for task, runs in results.items():
    scores = [r['score'] for r in runs]
    row = {'seeds': len(runs), 'score': statistics.median(scores),
           'min': min(scores), 'max': max(scores)}
    for key in SHOWN.get(task, ()):
      row[key] = statistics.median(r[key] for r in runs)
    tasks[task] = row
  avg = statistics.mean(r['score'] for r in tasks.values()) if tasks else float('nan')
  return {'tasks': tasks, 'glue_average': avg}


def markdown(summary: dict) -> str:
  lines = ['| task | metric | median | spread (min-max) | seeds |', '|---|---|---|---|---|']
  for task, row in summary['tasks'].items():
    shown = ' / '.join(f'{k.split("/")[0]} {100 * row[k]:.1f}' for k in SHOWN.get(task, ()))
    lines.append(f'| {task} | {shown} | {100 * row["score"]:.1f} | '
                 f'{100 * row["min"]:.1f}-{100 * row["max"]:.1f} | {row["seeds"]} |')
  lines.append(f'| **GLUE average** | | {100 * summary["glue_average"]:.1f} | | |')
  return '\n'.join(lines)
