"""Labelled examples -> fixed-length numpy arrays, and the task's evaluation of model outputs.

Every task gives a `TaskData`: train arrays, dev arrays per dev file, and `evaluate(name,
outputs)` turning the model's outputs on a dev file into the official metrics. Arrays are
host-side numpy: GLUE and SQuAD fit in memory, and a batch is a pure function of the step
(runner.py), so a resumed run needs no iterator state.
"""
import dataclasses
from typing import Any, Callable

import numpy as np

from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import glue, metrics, squad


@dataclasses.dataclass
class TaskData:
  kind: str  # classification | span | mlm (model.FinetuneModel.kind)
  num_labels: int
  train: dict[str, np.ndarray]
  dev: dict[str, dict[str, np.ndarray]]
  evaluate: Callable[[str, np.ndarray], dict]  # (dev name, outputs) -> metrics
  regression: bool = False
  info: dict = dataclasses.field(default_factory=dict)


def _truncate_pair(a: list, b: list | None, budget: int) -> None:
  """Longest first, one token at a time (BERT's _truncate_seq_pair)."""
  while len(a) + len(b or []) > budget:
    if b is not None and len(b) > len(a):
      b.pop()
    else:
      a.pop()


def _pad(rows: list[list[int]], types: list[list[int]], max_len: int) -> dict[str, np.ndarray]:
  n = len(rows)
  out = {'input_ids': np.zeros((n, max_len), np.int32),
         'segment_ids': np.zeros((n, max_len), np.int32),
         'positions': np.tile(np.arange(max_len, dtype=np.int32), (n, 1)),
         'token_type_ids': np.zeros((n, max_len), np.int32)}
  for i, (ids, tt) in enumerate(zip(rows, types)):
    out['input_ids'][i, :len(ids)] = ids
    out['segment_ids'][i, :len(ids)] = 1
    out['token_type_ids'][i, :len(ids)] = tt
  return out


class CachedEncoder:
  """text -> ids through the vocabulary, memoised (GLUE repeats sentences)."""

  def __init__(self, encode: Callable[[str], Any]):
    self._encode, self._cache = encode, {}

  def __call__(self, text: str) -> list[int]:
    if text not in self._cache:
      self._cache[text] = [int(t) for t in self._encode(text)]
    return list(self._cache[text])


def glue_arrays(examples: list[glue.Example], encode, tokens, max_len: int,
                regression: bool) -> dict[str, np.ndarray]:
  """[CLS] a [SEP] (b [SEP]) with token types 0 / 1, as BERT."""
  rows, types = [], []
  for ex in examples:
    a = encode(ex.text_a)
    b = encode(ex.text_b) if ex.text_b is not None else None
    _truncate_pair(a, b, max_len - (3 if b is not None else 2))
    ids = [tokens.cls] + a + [tokens.sep]
    tt = [0] * len(ids)
    if b is not None:
      ids += b + [tokens.sep]
      tt += [1] * (len(b) + 1)
    rows.append(ids)
    types.append(tt)
  out = _pad(rows, types, max_len)
  labels = [(-1 if e.label is None else e.label) for e in examples]
  out['label'] = np.asarray(labels, np.float32 if regression else np.int32)
  return out


def verbalizer_ids(verbalizer: str, encode, num_labels: int) -> list[int]:
  words = [w.strip() for w in verbalizer.split(',')]
  if len(words) != num_labels:
    raise ConfigError(f'finetune.verbalizer={verbalizer!r}: {len(words)} words for '
                      f'{num_labels} labels')
  out = []
  for w in words:
    ids = encode(w)
    if len(ids) != 1:
      raise ConfigError(f'finetune.verbalizer: {w!r} is {len(ids)} tokens in this vocabulary; '
                        'each label word must be one token')
    out.append(ids[0])
  return out


def generative_arrays(examples: list[glue.Example], encode, tokens, max_len: int,
                      template: str, verbalizer: list[int]) -> dict[str, np.ndarray]:
  """[CLS] template [SEP] with {a}/{b} filled and one [MASK]; `masked_positions` (B, 1) is
  where the MLM head answers, `label` the class, `answer_id` its verbalizer token."""
  parts = template.replace('[MASK]', '\0M\0').replace('{a}', '\0a\0').replace('{b}', '\0b\0')
  parts = [p for p in parts.split('\0') if p]
  if parts.count('M') != 1 or 'a' not in parts:
    raise ConfigError(f'finetune.template={template!r} needs {{a}} and exactly one [MASK]')
  rows, types, mask_at = [], [], []
  for ex in examples:
    a = encode(ex.text_a)
    b = encode(ex.text_b) if (ex.text_b is not None and 'b' in parts) else None
    fixed = sum(len(encode(p)) for p in parts if p not in ('a', 'b', 'M')) + 1
    _truncate_pair(a, b, max_len - 2 - fixed)
    ids = [tokens.cls]
    for p in parts:
      if p == 'M':
        mask_at.append(len(ids))
        ids.append(tokens.mask)
      else:
        ids += a if p == 'a' else (b or []) if p == 'b' else encode(p)
    ids.append(tokens.sep)
    rows.append(ids)
    types.append([0] * len(ids))
  out = _pad(rows, types, max_len)
  out['masked_positions'] = np.asarray(mask_at, np.int32)[:, None]
  out['label'] = np.asarray([(-1 if e.label is None else e.label) for e in examples], np.int32)
  out['answer_id'] = np.asarray([verbalizer[max(int(y), 0)] for y in out['label']], np.int32)
  return out


def subset(examples: list, n: int, seed: int) -> list:
  if not n or n >= len(examples):
    return examples
  keep = np.sort(np.random.default_rng(seed).permutation(len(examples))[:n])
  return [examples[i] for i in keep]


def glue_task(f_cfg, seed: int, encode, tokens) -> TaskData:
  """GLUE task f_cfg.task, as a task head or (method generative) through the MLM head."""
  task = glue.get_task(f_cfg.task)
  if f_cfg.zero_shot:  # nothing is trained: no training file is read
    train = []
  elif f_cfg.train_file:
    train = glue.read_tsv(f_cfg.train_file, task)
  else:
    (train,) = glue.read_split(f_cfg.data_dir, task, 'train', f_cfg.format).values()
  if f_cfg.dev_file:
    devs = {'dev': glue.read_tsv(f_cfg.dev_file, task)}
  else:
    devs = glue.read_split(f_cfg.data_dir, task, 'dev', f_cfg.format)
  train = subset(train, f_cfg.train_examples, 0)  # one subset for every run seed
  if f_cfg.eval_examples:
    devs = {k: v[:f_cfg.eval_examples] for k, v in devs.items()}
  generative = f_cfg.method == 'generative'
  if generative and not tokens.has_mask:
    raise ConfigError('finetune.method=generative needs a vocabulary with a [MASK] token; '
                      'this one has none')
  if generative:
    if task.is_regression:
      raise ConfigError(f'finetune.method=generative: task {task.name} is a regression')
    verb = verbalizer_ids(f_cfg.verbalizer, encode, task.num_labels)
    make = lambda ex: generative_arrays(ex, encode, tokens, f_cfg.max_seq_len,  # noqa: E731
                                        f_cfg.template, verb)
  else:
    verb = None
    make = lambda ex: glue_arrays(ex, encode, tokens, f_cfg.max_seq_len,  # noqa: E731
                                  task.is_regression)
  dev_arrays = {k: make(v) for k, v in devs.items()}

  def evaluate(name: str, outputs: np.ndarray) -> dict:
    label = dev_arrays[name]['label']
    if generative:  # outputs are the MLM logits of the verbalizer tokens (runner.py)
      pred = np.argmax(outputs, axis=-1)
    elif task.is_regression:
      pred = outputs[:, 0]
    else:
      pred = np.argmax(outputs, axis=-1)
    return metrics.task_metrics(task.metric, pred, label)

  return TaskData('generative' if generative else 'classification', task.num_labels, make(train),
                  dev_arrays, evaluate, regression=task.is_regression,
                  info={'verbalizer_ids': verb, 'train_examples': len(train)})


def squad_task(f_cfg, seed: int, encode, tokens, workdir: str | None = None) -> TaskData:
  """SQuAD v1.1 / v2.0 span extraction; evaluation decodes, scores and writes predictions."""
  if not f_cfg.dev_file:
    raise ConfigError('finetune.dev_file must name a SQuAD dev JSON for finetune.task=squad')
  if f_cfg.squad_version not in ('1.1', '2.0'):
    raise ConfigError(f'finetune.squad_version={f_cfg.squad_version!r} must be 1.1 or 2.0')
  dev_ex = squad.read(f_cfg.dev_file)
  train_ex = squad.read(f_cfg.train_file) if f_cfg.train_file else dev_ex[:0]
  train_ex = subset(train_ex, f_cfg.train_examples, 0)
  if f_cfg.eval_examples:
    dev_ex = dev_ex[:f_cfg.eval_examples]
  feat = lambda ex: squad.make_features(ex, encode, tokens.cls, tokens.sep,  # noqa: E731
                                        f_cfg.max_seq_len, f_cfg.doc_stride, f_cfg.max_query_len)
  train_f, dev_f = feat(train_ex), feat(dev_ex)
  v2 = f_cfg.squad_version == '2.0'

  def evaluate(name: str, outputs: np.ndarray) -> dict:
    del name
    answers, diffs = squad.decode(dev_ex, dev_f, outputs[..., 0], outputs[..., 1],
                                  f_cfg.n_best, f_cfg.max_answer_len)
    if v2:
      thresh, out = squad.best_threshold(dev_ex, answers, diffs)
      answers = squad.apply_threshold(answers, diffs, thresh)
      out['null_threshold'] = thresh
    else:
      out = squad.evaluate(dev_ex, answers)
    if workdir is not None:
      import os  # pylint: disable=g-import-not-at-top
      squad.write_predictions(os.path.join(workdir, 'predictions.json'), answers,
                              diffs if v2 else None)
    out['score'] = out['f1']
    return out

  return TaskData('span', 2, squad.feature_arrays(train_f, f_cfg.max_seq_len),
                  {'dev': squad.feature_arrays(dev_f, f_cfg.max_seq_len)}, evaluate,
                  info={'train_examples': len(train_ex), 'train_features': len(train_f)})
