"""Checks of the `data` section that need no data read (and the parsers they share with the
pipeline): run before anything is compiled or written. No TensorFlow here, except to look up
remote (gs://) files."""
import os

from mlm_jax import fs
from mlm_jax.config_lib import ConfigError, require

DATA_TASKS = ('builtin_docs', 'files', 'tfds', 'mixture', 'prepared')
FORMATS = ('lines', 'blocks', 'wikiextractor', 'jsonl', 'tfrecord')
FIELD_KINDS = ('jsonl', 'tfrecord', 'tfds')  # sources whose documents carry metadata fields



def parse_mixture(spec: str) -> list[tuple[str, str, float]]:
  """'KIND:GLOBS@RATE; ...' -> [(kind, globs, rate)]; errors name data.mixture."""
  out = []
  for i, part in enumerate(p.strip() for p in spec.split(';') if p.strip()):
    head, sep, rate = part.rpartition('@')
    kind, colon, where = head.partition(':')
    require(bool(sep and colon and where), f'data.mixture: component {i} {part!r} is not '
             'KIND:GLOBS@RATE')
    kind = kind.strip()
    require(kind in FORMATS + ('tfds',), f'data.mixture: component {i} kind {kind!r} must be '
             f'one of {"|".join(FORMATS + ("tfds",))}')
    try:
      value = float(rate)
    except ValueError:
      raise ConfigError(f'data.mixture: component {i} rate {rate!r} is not a number') from None
    require(value >= 0, f'data.mixture: component {i} rate {value} is negative')
    name = where.partition('|')[0].strip()
    require(kind != 'tfds' or ':' in name,
             f'data.mixture: component {i} TFDS name {name!r} needs a version (NAME:VERSION)')
    out.append((kind, where.strip(), value))
  require(bool(out), 'data.mixture must name at least one component for task mixture')
  require(sum(r for *_, r in out) > 0, 'data.mixture: rates sum to zero')
  return out


def split_patterns(patterns: str) -> list[str]:
  """'a.txt, b/*.txt' -> ['a.txt', 'b/*.txt']."""
  return [p.strip() for p in patterns.split(',') if p.strip()]


def validate(data_cfg, max_positions: int, model_vocab: int, hf_dir: str) -> None:
  """Every data.* check that reads no data (files are only globbed)."""
  d = data_cfg
  require(d.task in DATA_TASKS, f'data.task={d.task!r} must be one of {"|".join(DATA_TASKS)}')
  require(d.format in FORMATS, f'data.format={d.format!r} must be one of {"|".join(FORMATS)}')
  require(d.packing in ('fill', 'greedy', 'pad'),
           f'data.packing={d.packing!r} must be fill, greedy or pad')
  require(d.host_sharding in ('documents', 'rows'),
           f'data.host_sharding={d.host_sharding!r} must be documents or rows')
  require(d.seq_len >= 8, f'data.seq_len={d.seq_len} must be at least 8')
  require(d.seq_len <= max_positions,
           f'data.seq_len={d.seq_len} exceeds model.max_positions={max_positions}')
  require(d.holdout_every >= 2, f'data.holdout_every={d.holdout_every} must be at least 2')
  if d.task == 'files':
    require(bool(d.train_files), 'data.train_files must name at least one file for task files')
    for key in ('train_files', 'validation_files'):
      for pattern in split_patterns(d[key]):
        require(bool(fs.glob(pattern)),
                 f'data.{key}: no file matches {pattern}')
  if d.task == 'tfds':
    require(':' in d.tfds_name, f'data.tfds_name={d.tfds_name!r} must be NAME[/CONFIG]:VERSION '
             '(e.g. c4/en:3.0.1): a pinned version keeps the data reproducible')
  if d.task == 'mixture':
    parse_mixture(d.mixture)
  if d.task != 'prepared':
    validate_filter(d)
  if d.task == 'prepared':
    require(fs.isfile(os.path.join(d.prepared_dir, 'manifest.json')),
             f'data.prepared_dir={d.prepared_dir!r}: no manifest.json there')
  if hf_dir:
    require(os.path.isfile(os.path.join(hf_dir, 'config.json')),
             f'init_from.hf_dir={hf_dir}: no config.json there')
  elif d.vocab_path:
    require(d.vocab_path == 'byte' or fs.exists(d.vocab_path),
             f'data.vocab_path={d.vocab_path}: no such file')
  else:
    require(d.vocab_size <= model_vocab,
             f'data.vocab_size={d.vocab_size} exceeds model.vocab_size={model_vocab}')
    require(d.vocab_size >= 64, f'data.vocab_size={d.vocab_size} must be at least 64')


def source_kinds(data_cfg) -> list[str]:
  """The document formats the data section reads (mixture components included)."""
  if data_cfg.task == 'mixture':
    return [kind for kind, _, _ in parse_mixture(data_cfg.mixture)]
  return {'tfds': ['tfds'], 'builtin_docs': ['lines']}.get(data_cfg.task, [data_cfg.format])


def validate_filter(data_cfg) -> None:
  """data.filter (mlm_jax/data/filters.py): every check that reads no data."""
  f = data_cfg.filter
  require(0 < f.subset_fraction <= 1,
          f'data.filter.subset_fraction={f.subset_fraction} must be in (0, 1]')
  require(not (f.min_year and f.max_year) or f.min_year <= f.max_year,
          f'data.filter.min_year={f.min_year} is after data.filter.max_year={f.max_year}')
  require(not (f.min_year or f.max_year) or bool(f.date_field),
          'data.filter.min_year / max_year need data.filter.date_field (the field holding '
          'each document\'s date)')
  require(not (f.domains or f.exclude_domains) or bool(f.domain_field),
          'data.filter.domains / exclude_domains need data.filter.domain_field (a domain or '
          'URL field)')
  for key in ('quality', 'toxicity'):
    threshold, model = f[key + '_threshold'], f[key + '_model']
    require(0 <= threshold <= 1, f'data.filter.{key}_threshold={threshold} must be in [0, 1]')
    require(not model or fs.exists(model), f'data.filter.{key}_model={model}: no such file')
  if f.date_field or f.domain_field:
    bad = [k for k in source_kinds(data_cfg) if k not in FIELD_KINDS]
    require(not bad, f'data.filter.date_field / domain_field read document fields, which '
            f'format {bad[0] if bad else ""} does not carry (use {", ".join(FIELD_KINDS)})')


def parse_eval_sets(spec: str) -> list[tuple[str, str, str]]:
  """eval.extra_sets 'NAME=KIND:GLOBS; ...' -> [(name, kind, globs)]; errors name the key."""
  out = []
  for i, part in enumerate(p.strip() for p in spec.split(';') if p.strip()):
    name, eq, rest = part.partition('=')
    kind, colon, where = rest.partition(':')
    name, kind = name.strip(), kind.strip()
    require(bool(eq and colon and where.strip() and name.isidentifier()),
            f'eval.extra_sets: entry {i} {part!r} is not NAME=KIND:GLOBS (NAME a word)')
    require(kind in FORMATS, f'eval.extra_sets: entry {name} kind {kind!r} must be one of '
            f'{"|".join(FORMATS)}')
    for pattern in split_patterns(where):
      require(bool(fs.glob(pattern)), f'eval.extra_sets: entry {name}: no file matches {pattern}')
    out.append((name, kind, where.strip()))
  require(len({n for n, _, _ in out}) == len(out), 'eval.extra_sets: names must differ')
  return out

