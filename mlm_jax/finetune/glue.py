"""The nine GLUE tasks: file layout, columns, label sets and metric of each, and readers of the
original TSV layout (what download_glue_data.py writes) and of TFDS `glue/<task>` prepared
locally (never downloaded).

Quirks handled: MRPC files start with a UTF-8 byte-order mark (read as utf-8-sig); RTE train
line 2166 opens an unbalanced '"' (csv.QUOTE_NONE: quotes are text); CoLA train/dev have no
header; test files carry no labels; MNLI has matched and mismatched dev files; a file may be
gzipped (`.tsv.gz`).
"""
import csv
import dataclasses
import gzip
import os

from mlm_jax.config_lib import ConfigError


@dataclasses.dataclass(frozen=True)
class Task:
  name: str
  directory: str  # GLUE_DIR/<directory>/
  text_a: str  # column names (header, or `columns` for headerless files)
  text_b: str | None  # None: single-sentence task
  label: str
  labels: tuple[str, ...] | None  # None: regression (STS-B)
  metric: str  # the official metric(s): accuracy | f1_accuracy | matthews | pearson_spearman
  dev_files: tuple[str, ...] = ('dev',)  # MNLI: dev_matched, dev_mismatched
  test_files: tuple[str, ...] = ('test',)
  test_text_a: str = ''  # test files name columns differently in some tasks ('' = text_a)
  test_text_b: str = ''
  columns: tuple[str, ...] | None = None  # train/dev have no header (CoLA)

  @property
  def num_labels(self) -> int:
    return len(self.labels) if self.labels else 1

  @property
  def is_regression(self) -> bool:
    return self.labels is None


TASKS = {t.name: t for t in (
    Task('cola', 'CoLA', 'sentence', None, 'label', ('0', '1'), 'matthews',
         columns=('source', 'label', 'original_label', 'sentence')),
    Task('sst2', 'SST-2', 'sentence', None, 'label', ('0', '1'), 'accuracy'),
    Task('mrpc', 'MRPC', '#1 String', '#2 String', 'Quality', ('0', '1'), 'f1_accuracy'),
    Task('qqp', 'QQP', 'question1', 'question2', 'is_duplicate', ('0', '1'), 'f1_accuracy'),
    Task('stsb', 'STS-B', 'sentence1', 'sentence2', 'score', None, 'pearson_spearman'),
    Task('mnli', 'MNLI', 'sentence1', 'sentence2', 'gold_label',
         ('contradiction', 'entailment', 'neutral'), 'accuracy',
         dev_files=('dev_matched', 'dev_mismatched'),
         test_files=('test_matched', 'test_mismatched')),
    Task('qnli', 'QNLI', 'question', 'sentence', 'label', ('entailment', 'not_entailment'),
         'accuracy'),
    Task('rte', 'RTE', 'sentence1', 'sentence2', 'label', ('entailment', 'not_entailment'),
         'accuracy'),
    Task('wnli', 'WNLI', 'sentence1', 'sentence2', 'label', ('0', '1'), 'accuracy'),
)}

# TFDS glue/<config>: config name, and (text_a, text_b) feature names.
TFDS_FEATURES = {
    'cola': ('cola', 'sentence', None), 'sst2': ('sst2', 'sentence', None),
    'mrpc': ('mrpc', 'sentence1', 'sentence2'), 'qqp': ('qqp', 'question1', 'question2'),
    'stsb': ('stsb', 'sentence1', 'sentence2'), 'mnli': ('mnli', 'premise', 'hypothesis'),
    'qnli': ('qnli', 'question', 'sentence'), 'rte': ('rte', 'sentence1', 'sentence2'),
    'wnli': ('wnli', 'sentence1', 'sentence2'),
}


@dataclasses.dataclass(frozen=True)
class Example:
  text_a: str
  text_b: str | None
  label: float | int | None  # class index, regression score, or None (test files)
  where: str  # file:row, for error messages


def get_task(name: str) -> Task:
  if name not in TASKS:
    raise ConfigError(f'finetune.task={name!r} is not a GLUE task; known: {sorted(TASKS)}')
  return TASKS[name]


def split_files(task: Task, split: str) -> tuple[str, ...]:
  """'train' | 'dev' | 'test' -> file stems (MNLI dev: matched then mismatched)."""
  if split == 'train':
    return ('train',)
  if split == 'dev':
    return task.dev_files
  if split == 'test':
    return task.test_files
  raise ConfigError(f'GLUE split {split!r} must be train, dev or test')


def find_file(data_dir: str, task: Task, stem: str) -> str:
  for name in (f'{stem}.tsv', f'{stem}.tsv.gz'):
    for base in (os.path.join(data_dir, task.directory), data_dir):
      path = os.path.join(base, name)
      if os.path.isfile(path):
        return path
  raise ConfigError(f'finetune.data_dir={data_dir}: no {stem}.tsv(.gz) for task {task.name} '
                    f'(looked in {os.path.join(data_dir, task.directory)} and {data_dir})')


def _rows(path: str):
  opener = gzip.open if path.endswith('.gz') else open
  # utf-8-sig drops MRPC's byte-order mark; QUOTE_NONE keeps RTE's stray quote as text.
  with opener(path, 'rt', encoding='utf-8-sig', newline='') as f:
    yield from enumerate(csv.reader(f, delimiter='\t', quoting=csv.QUOTE_NONE), start=1)


def read_tsv(path: str, task: Task, labelled: bool = True) -> list[Example]:
  """Examples of one file; any malformed row or unknown label is a one-line ConfigError."""
  test = not labelled
  rows = _rows(path)
  if task.columns and not test:
    header = list(task.columns)
  else:
    first = next(rows, None)
    if first is None:
      raise ConfigError(f'{path}: empty file')
    header = first[1]
  name_a = (task.test_text_a or task.text_a) if test else task.text_a
  name_b = (task.test_text_b or task.text_b) if test else task.text_b
  wanted = [name_a] + ([name_b] if name_b else []) + ([task.label] if labelled else [])
  for name in wanted:
    if name not in header:
      raise ConfigError(f'{path}: header has no column {name!r} (has {header})')
  col = {name: header.index(name) for name in wanted}
  width = max(col.values()) + 1
  out = []
  for row_no, row in rows:
    if not row or row == ['']:
      continue
    where = f'{path}:{row_no}'
    if len(row) < width:
      raise ConfigError(f'{where}: malformed row: {len(row)} tab-separated fields, task '
                        f'{task.name} needs at least {width}')
    label = None
    if labelled:
      label = parse_label(task, row[col[task.label]], where)
    out.append(Example(row[col[name_a]], row[col[name_b]] if name_b else None, label, where))
  return out


def parse_label(task: Task, text: str, where: str) -> float | int:
  text = text.strip()
  if task.is_regression:
    try:
      return float(text)
    except ValueError:
      raise ConfigError(f'{where}: label {text!r} is not a number (task {task.name})') from None
  if text not in task.labels:
    raise ConfigError(f'{where}: label {text!r} is not in task {task.name}\'s label set '
                      f'{list(task.labels)}')
  return task.labels.index(text)


def read_split(data_dir: str, task: Task, split: str, fmt: str = 'tsv'
               ) -> dict[str, list[Example]]:
  """{file stem: examples} of a split (MNLI dev has two files)."""
  if fmt == 'tfds':
    return read_tfds(data_dir, task, split)
  if fmt != 'tsv':
    raise ConfigError(f'finetune.format={fmt!r} must be tsv or tfds')
  return {stem: read_tsv(find_file(data_dir, task, stem), task, labelled=split != 'test')
          for stem in split_files(task, split)}


def read_tfds(data_dir: str, task: Task, split: str) -> dict[str, list[Example]]:
  """TFDS glue/<task> from a local data_dir (download=False); labels mapped by name."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  config, key_a, key_b = TFDS_FEATURES[task.name]
  try:
    builder = tfds.builder(f'glue/{config}', data_dir=data_dir or None)
  except Exception as e:  # pylint: disable=broad-except
    raise ConfigError(f'finetune.data_dir={data_dir}: TFDS glue/{config} not found ({e})') from None
  if not builder.is_prepared():
    raise ConfigError(f'finetune.data_dir={data_dir}: TFDS glue/{config} is not prepared there '
                      '(nothing is downloaded at run time)')
  tfds_split = {'train': 'train', 'dev': 'validation', 'test': 'test'}[split]
  names = {'dev_matched': 'validation_matched', 'dev_mismatched': 'validation_mismatched',
           'test_matched': 'test_matched', 'test_mismatched': 'test_mismatched'}
  label_names = None if task.is_regression else builder.info.features['label'].names
  out = {}
  for stem in split_files(task, split):
    name = names.get(stem, tfds_split)
    examples = []
    for i, ex in enumerate(tfds.as_numpy(builder.as_dataset(split=name))):
      where = f'tfds glue/{config}[{name}]:{i}'
      raw = ex['label']
      if split == 'test' or (not task.is_regression and raw < 0):
        label = None
      elif task.is_regression:
        label = float(raw)
      else:  # NLI names match ours; binary tasks name 0/1 (negative/positive, ...) by index
        name_i = label_names[int(raw)]
        label = parse_label(task, name_i if name_i in task.labels else str(int(raw)), where)
      examples.append(Example(ex[key_a].decode('utf-8'),
                              ex[key_b].decode('utf-8') if key_b else None, label, where))
    out[stem] = examples
  return out
