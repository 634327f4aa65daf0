"""Config helpers: variant strings, model-size presets and validation before compile."""
import glob
import json
import os

import ml_collections


class ConfigError(ValueError):
  """A bad setting; its message is one line naming the key, value or file at fault."""


class RunError(RuntimeError):
  """A run that must stop (non-finite loss under the stop policy); one-line message."""


# (layers, hidden, heads); mlp = 4 * hidden. BERT paper and Well-Read Students sizes.
BERT_SIZES = {
    'tiny': (2, 128, 2),
    'mini': (4, 256, 4),
    'small': (4, 512, 8),
    'medium': (8, 512, 8),
    'base': (12, 768, 12),
    'large': (24, 1024, 16),
}


def parse_variant(arg: str | None, defaults: dict) -> dict:
  """Parses 'size=base,seq_len=512,debug' into a dict over `defaults`' keys.

  A bare word sets a boolean key to True. Values are cast to the default's type.
  """
  out = dict(defaults)
  for item in filter(None, (arg or '').split(',')):
    key, _, value = item.partition('=')
    if key not in defaults:
      raise ConfigError(f'unknown config variant {key!r}; known: {sorted(defaults)}')
    default = defaults[key]
    if not value:
      if not isinstance(default, bool):
        raise ConfigError(f'config variant {key!r} needs a value')
      out[key] = True
    elif isinstance(default, bool):
      out[key] = value.lower() in ('1', 'true', 'yes')
    else:
      out[key] = type(default)(value)
  return out


def set_bert_size(config: ml_collections.ConfigDict, size: str) -> None:
  if size not in BERT_SIZES:
    raise ConfigError(f'unknown model size {size!r}; known: {list(BERT_SIZES)}')
  layers, hidden, heads = BERT_SIZES[size]
  config.model.num_layers = layers
  config.model.hidden_size = hidden
  config.model.num_heads = heads
  config.model.mlp_dim = 4 * hidden


RUN_CONFIG = 'config.json'  # the resolved config train.run writes into every workdir


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a workdir was trained with (export, soups and probes read it)."""
  path = os.path.join(workdir, RUN_CONFIG)
  if not os.path.isfile(path):
    raise ConfigError(f'{path}: no run config; is {workdir} a training workdir?')
  with open(path, encoding='utf-8') as f:
    return ml_collections.ConfigDict(json.load(f))


DATA_TASKS = ('builtin_docs', 'files', 'tfds', 'mixture', 'prepared')
FORMATS = ('lines', 'blocks', 'wikiextractor', 'jsonl', 'tfrecord')


def parse_mixture(spec: str) -> list[tuple[str, str, float]]:
  """'KIND:GLOBS@RATE; ...' -> [(kind, globs, rate)]; errors name data.mixture."""
  out = []
  for i, part in enumerate(p.strip() for p in spec.split(';') if p.strip()):
    head, sep, rate = part.rpartition('@')
    kind, colon, where = head.partition(':')
    _require(bool(sep and colon and where), f'data.mixture: component {i} {part!r} is not '
             'KIND:GLOBS@RATE')
    kind = kind.strip()
    _require(kind in FORMATS + ('tfds',), f'data.mixture: component {i} kind {kind!r} must be '
             f'one of {"|".join(FORMATS + ("tfds",))}')
    try:
      value = float(rate)
    except ValueError:
      raise ConfigError(f'data.mixture: component {i} rate {rate!r} is not a number') from None
    _require(value >= 0, f'data.mixture: component {i} rate {value} is negative')
    name = where.partition('|')[0].strip()
    _require(kind != 'tfds' or ':' in name,
             f'data.mixture: component {i} TFDS name {name!r} needs a version (NAME:VERSION)')
    out.append((kind, where.strip(), value))
  _require(bool(out), 'data.mixture must name at least one component for task mixture')
  _require(sum(r for *_, r in out) > 0, 'data.mixture: rates sum to zero')
  return out


def split_patterns(patterns: str) -> list[str]:
  """'a.txt, b/*.txt' -> ['a.txt', 'b/*.txt']."""
  return [p.strip() for p in patterns.split(',') if p.strip()]


def _require(ok: bool, message: str) -> None:
  if not ok:
    raise ConfigError(message)


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks every setting that can be checked without data or compilation."""
  m, o, d, t, e = config.model, config.objective, config.data, config.train, config.eval
  from mlm_jax import models, objectives  # pylint: disable=g-import-not-at-top
  from mlm_jax.models import blocks  # pylint: disable=g-import-not-at-top
  _require(m.name in models.MODELS, f'model.name={m.name!r} is not one of {list(models.MODELS)}')
  _require(o.name in objectives.OBJECTIVES,
           f'objective.name={o.name!r} is not one of {list(objectives.OBJECTIVES)}')
  for key in ('vocab_size', 'hidden_size', 'num_layers', 'num_heads', 'mlp_dim', 'max_positions'):
    _require(m[key] > 0, f'model.{key}={m[key]} must be positive')
  _require(m.hidden_size % m.num_heads == 0,
           f'model.num_heads={m.num_heads} must divide model.hidden_size={m.hidden_size}')
  for key in ('dropout_rate', 'attention_dropout_rate'):
    _require(0 <= m[key] < 1, f'model.{key}={m[key]} must be in [0, 1)')
  _require(m.dtype in ('float32', 'bfloat16'), f'model.dtype={m.dtype!r} must be float32 or bfloat16')
  _require(m.remat_policy in ('none', 'full', 'dots'),
           f'model.remat_policy={m.remat_policy!r} must be none, full or dots')
  _require(m.attention_impl in ('xla', 'cudnn'),
           f'model.attention_impl={m.attention_impl!r} must be xla or cudnn')
  _require(m.attention_impl == 'xla' or m.attention_dropout_rate == 0,
           'model.attention_impl=cudnn needs model.attention_dropout_rate=0')
  blocks.validate_block(m)

  _require(0 < o.mask_rate < 1, f'objective.mask_rate={o.mask_rate} must be in (0, 1)')
  _require(m.embedding_sharing in ('tied', 'gdes'),
           f'model.embedding_sharing={m.embedding_sharing!r} must be tied or gdes')
  _require(0 < m.generator_size_fraction <= 1,
           f'model.generator_size_fraction={m.generator_size_fraction} must be in (0, 1]')
  _require(m.embedding_size >= 0, f'model.embedding_size={m.embedding_size} must be >= 0')
  if o.name == 'mcl':
    from mlm_jax.objectives import mcl  # pylint: disable=g-import-not-at-top
    try:
      mcl.parse_courses(o.mcl_courses)
    except ValueError as e:
      raise ConfigError(str(e)) from None
  _require(o.max_predictions > 0, f'objective.max_predictions={o.max_predictions} must be positive')
  _require(o.max_predictions <= d.seq_len,
           f'objective.max_predictions={o.max_predictions} exceeds data.seq_len={d.seq_len}')
  for key in ('mask_token_fraction', 'random_token_fraction'):
    _require(0 <= o[key] <= 1, f'objective.{key}={o[key]} must be in [0, 1]')
  _require(o.mask_token_fraction + o.random_token_fraction <= 1,
           'objective.mask_token_fraction + objective.random_token_fraction must be <= 1')

  _require(d.task in DATA_TASKS, f'data.task={d.task!r} must be one of {"|".join(DATA_TASKS)}')
  _require(d.format in FORMATS, f'data.format={d.format!r} must be one of {"|".join(FORMATS)}')
  _require(d.packing in ('fill', 'greedy', 'pad'),
           f'data.packing={d.packing!r} must be fill, greedy or pad')
  _require(d.host_sharding in ('documents', 'rows'),
           f'data.host_sharding={d.host_sharding!r} must be documents or rows')
  _require(d.seq_len >= 8, f'data.seq_len={d.seq_len} must be at least 8')
  _require(d.seq_len <= m.max_positions,
           f'data.seq_len={d.seq_len} exceeds model.max_positions={m.max_positions}')
  _require(d.holdout_every >= 2, f'data.holdout_every={d.holdout_every} must be at least 2')
  if d.task == 'files':
    _require(bool(d.train_files), 'data.train_files must name at least one file for task files')
    for key in ('train_files', 'validation_files'):
      for pattern in split_patterns(d[key]):
        _require('://' in pattern or bool(glob.glob(pattern)),
                 f'data.{key}: no file matches {pattern}')
  if d.task == 'tfds':
    _require(':' in d.tfds_name, f'data.tfds_name={d.tfds_name!r} must be NAME[/CONFIG]:VERSION '
             '(e.g. c4/en:3.0.1): a pinned version keeps the data reproducible')
  if d.task == 'mixture':
    parse_mixture(d.mixture)
  if d.task == 'prepared':
    _require(os.path.isfile(os.path.join(d.prepared_dir, 'manifest.json')),
             f'data.prepared_dir={d.prepared_dir!r}: no manifest.json there')
  hf_dir = config.init_from.hf_dir
  if hf_dir:
    _require(os.path.isfile(os.path.join(hf_dir, 'config.json')),
             f'init_from.hf_dir={hf_dir}: no config.json there')
  elif d.vocab_path:
    _require(d.vocab_path == 'byte' or os.path.exists(d.vocab_path),
             f'data.vocab_path={d.vocab_path}: no such file')
  else:
    _require(d.vocab_size <= m.vocab_size,
             f'data.vocab_size={d.vocab_size} exceeds model.vocab_size={m.vocab_size}')
    _require(d.vocab_size >= 64, f'data.vocab_size={d.vocab_size} must be at least 64')

  _require(t.steps > 0, f'train.steps={t.steps} must be positive')
  _require(t.stop_at_step >= 0, f'train.stop_at_step={t.stop_at_step} must be >= 0')
  _require(t.learning_rate > 0, f'train.learning_rate={t.learning_rate} must be positive')
  _require(t.warmup_steps >= 0, f'train.warmup_steps={t.warmup_steps} must be >= 0')
  _require(t.decay in ('linear', 'cosine', 'constant'),
           f'train.decay={t.decay!r} must be linear, cosine or constant')
  _require(t.optimizer in ('adamw', 'lamb'), f'train.optimizer={t.optimizer!r} must be adamw or lamb')
  _require(t.nonfinite_policy in ('skip', 'stop'),
           f'train.nonfinite_policy={t.nonfinite_policy!r} must be skip or stop')
  _require(t.log_every_steps > 0, f'train.log_every_steps={t.log_every_steps} must be positive')
  _require(t.batch_size > 0, f'train.batch_size={t.batch_size} must be positive')
  _require(t.micro_batches > 0, f'train.micro_batches={t.micro_batches} must be positive')
  _require(t.batch_size % t.micro_batches == 0,
           f'train.micro_batches={t.micro_batches} must divide train.batch_size={t.batch_size}')
  import jax  # pylint: disable=g-import-not-at-top
  _require(e.steps > 0 or jax.process_count() == 1,
           'eval.steps must be positive in a multi-process run (hosts run equal eval steps)')
  _require(e.every_steps >= 0, f'eval.every_steps={e.every_steps} must be >= 0')
  _require(config.checkpoint.every_steps > 0,
           f'checkpoint.every_steps={config.checkpoint.every_steps} must be positive')
  _require(config.checkpoint.keep > 0, f'checkpoint.keep={config.checkpoint.keep} must be positive')

  from mlm_jax import sharding  # pylint: disable=g-import-not-at-top
  mesh_shape = sharding.mesh_shape(config.mesh, num_devices)  # raises ConfigError
  dp = mesh_shape[0] * mesh_shape[1]
  micro = t.batch_size // t.micro_batches
  _require(micro % dp == 0,
           f'train.batch_size={t.batch_size} / train.micro_batches={t.micro_batches} = {micro} '
           f'is not divisible by the data-parallel size {dp} (mesh.data x mesh.fsdp)')
  _require(e.batch_size % dp == 0,
           f'eval.batch_size={e.batch_size} is not divisible by the data-parallel size {dp}')
