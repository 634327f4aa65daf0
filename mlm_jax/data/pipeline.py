"""From config to host-local numpy batches: vocabulary, seqio task or mixture, this host's
shard, and an iterator whose position saves and restores exactly."""
import dataclasses
import os
from typing import Any

import numpy as np
import seqio
import tensorflow as tf

from mlm_jax import fs
from mlm_jax.config_lib import ConfigError
from mlm_jax.data.checks import parse_eval_sets, parse_mixture, split_patterns
from mlm_jax.data import (builtin_corpus, filters, prepared, taggers, tasks, vocab,
                          vocab_builder, workdir_vocab)
from mlm_jax.tokens import SpecialTokens

RENAME = {'targets': 'input_ids', 'targets_segment_ids': 'segment_ids',
          'targets_positions': 'positions'}


@dataclasses.dataclass
class DataSource:
  task: seqio.Task | seqio.Mixture
  tokens: SpecialTokens
  word_start: np.ndarray  # (vocab,) bool, for whole-word masking
  vocab_path: str
  vocab: vocab.Vocab  # what was loaded: train.run copies it into the workdir
  tagger: Any = None  # data.tagger's taggers.Tagger: batches gain 'unit_tags'


def cap_tf_threads(threads: int) -> None:
  """TensorFlow must not take the cores the training step runs on."""
  try:
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
  except RuntimeError:  # already initialised; per-dataset options below still apply
    pass
  tf.config.set_visible_devices([], 'GPU')


def _expand(patterns: str, key: str) -> tuple[str, ...]:
  paths = [p for pat in split_patterns(patterns) for p in (fs.glob(pat) or [pat])]
  for p in paths:
    if not fs.isfile(p) or fs.getsize(p) == 0:
      raise ConfigError(f'{key}: {p} is missing or empty')
  return tuple(paths)


def corpus_files(data_cfg, workdir: str) -> dict[str, tuple[str, ...]]:
  if data_cfg.task == 'builtin_docs':
    # Regenerated identically from this Python wherever the run goes: a remote workdir reads
    # the local cache's copy instead of uploading one.
    files = (builtin_corpus.cached_corpus() if fs.is_remote(workdir)
             else builtin_corpus.write_corpus(os.path.join(workdir, 'corpus')))
    return {'train': (files['train'],), 'validation': (files['validation'],)}
  return {'train': _expand(data_cfg.train_files, 'data.train_files'),
          'validation': _expand(data_cfg.validation_files, 'data.validation_files')}


def _tfds_has_validation(spec: tasks.SourceSpec, key: str) -> bool:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(spec.tfds_name, data_dir=spec.tfds_data_dir or None)
    splits = builder.info.splits
  except Exception as e:  # pylint: disable=broad-except  (tfds raises many kinds)
    raise ConfigError(f'{key}={spec.tfds_name}: no such TFDS dataset'
                      f'{" in " + spec.tfds_data_dir if spec.tfds_data_dir else ""} '
                      f'({type(e).__name__})') from None
  if 'train' not in splits:
    raise ConfigError(f'{key}={spec.tfds_name}: no train split (prepared under '
                      f'{spec.tfds_data_dir or "the default data_dir"}?)')
  return 'validation' in splits


def source_specs(data_cfg, workdir: str) -> list[tuple[tasks.SourceSpec, float, bool]]:
  """(spec, mixing rate, TFDS has validation) for each component of the configured source."""
  d = data_cfg
  common = dict(text_field=d.text_field, holdout_every=d.holdout_every,
                filter=filters.spec(d))
  if d.task == 'mixture':
    out = []
    for i, (kind, where, rate) in enumerate(parse_mixture(d.mixture)):
      if kind == 'tfds':
        name, _, data_dir = where.partition('|')
        spec = tasks.SourceSpec('tfds', tfds_name=name, tfds_data_dir=data_dir, **common)
        out.append((spec, rate, _tfds_has_validation(spec, f'data.mixture component {i}')))
      else:
        files = _expand(where.replace('|', ','), f'data.mixture component {i}')
        out.append((tasks.SourceSpec(kind, train=files, **common), rate, True))
    return out
  if d.task == 'tfds':
    spec = tasks.SourceSpec('tfds', tfds_name=d.tfds_name, tfds_data_dir=d.tfds_data_dir,
                            **common)
    return [(spec, 1.0, _tfds_has_validation(spec, 'data.tfds_name'))]
  files = corpus_files(d, workdir)
  fmt = 'lines' if d.task == 'builtin_docs' else d.format
  return [(tasks.SourceSpec(fmt, train=files['train'], validation=files['validation'],
                            **common), 1.0, True)]


def documents(data_cfg, workdir: str, split: str = 'train') -> tf.data.Dataset:
  """The configured source's documents ({'text'}), after stub filtering, in file order: what
  vocabularies are trained on and what tests count."""
  streams = []
  for spec, _, has_val in source_specs(data_cfg, workdir):
    ds = tasks.make_source(spec, has_val).get_dataset(split, shuffle=False)
    streams.append(tasks.keep_document(data_cfg.min_doc_words)(ds))
  out = streams[0]
  for ds in streams[1:]:
    out = out.concatenate(ds)
  return out


def resolve_vocab(data_cfg, workdir: str) -> vocab.Vocab:
  """data.vocab_path, or a SentencePiece model trained on the corpus and cached in WORKDIR."""
  if data_cfg.vocab_path:
    return vocab.load(data_cfg.vocab_path)
  if data_cfg.task == 'prepared':
    raise ConfigError('data.vocab_path must name the vocabulary the prepared corpus was built '
                      'with')
  path = os.path.join(workdir, f'spm_{data_cfg.vocab_size}.model')
  if not fs.exists(path):
    fs.makedirs(workdir)
    texts = (t.decode('utf-8') for t in documents(data_cfg, workdir).map(
        lambda ex: ex['text']).as_numpy_iterator())
    with fs.local_dir(workdir) as local:  # SentencePiece's trainer writes local files
      try:
        vocab_builder.train_sentencepiece(texts, os.path.join(local, os.path.basename(path)),
                                          data_cfg.vocab_size)
      except vocab_builder.VocabSizeError as e:
        raise ConfigError(f'data.vocab_size={data_cfg.vocab_size}: {e}; lower data.vocab_size '
                          '(and model.vocab_size) or set data.vocab_path') from None
  return vocab.load(path)


def build_task(data_cfg, workdir: str, voc: vocab.Vocab):
  d = data_cfg
  if d.task == 'prepared':
    files = prepared.check(prepared.read_manifest(d.prepared_dir), d.prepared_dir, voc.path,
                           d.seq_len)
    name = tasks.unique_name('prepared', d.prepared_dir, voc.path)
    return tasks.prepared_task(name, files, d.seq_len, voc.seqio_vocab, d.shuffle_buffer)
  built = []
  for spec, rate, has_val in source_specs(d, workdir):
    _require_documents(spec, has_val, d.min_doc_words)
    name = tasks.unique_name('docs', spec, voc.path, d.min_doc_words, d.packing)
    task = tasks.document_task(name, tasks.make_source(spec, has_val), voc.seqio_vocab,
                               voc.tokens, min_words=d.min_doc_words, packing_mode=d.packing,
                               shuffle_buffer=d.shuffle_buffer)
    built.append((task, rate))
  if d.task != 'mixture':
    return built[0][0]
  return tasks.mixture(tasks.unique_name('mixture', d.mixture, voc.path, d.min_doc_words,
                                         d.packing), built)


def _require_documents(spec: tasks.SourceSpec, has_val: bool, min_words: int) -> None:
  """An empty stream would make training wait forever: refuse it now, naming the source."""
  for split in ('train', 'validation'):
    ds = tasks.keep_document(min_words)(tasks.make_source(spec, has_val).get_dataset(
        split, shuffle=False))
    where = spec.tfds_name or ','.join((spec.validation if split == 'validation'
                                        and spec.validation else spec.train))
    try:
      found = any(True for _ in ds.take(1))
    except tf.errors.OpError as e:
      detail = [line for line in e.message.splitlines() if 'Error' in line][-1:] or ['']
      raise ConfigError(f'{where}: not readable as format {spec.kind} '
                        f'({" ".join(detail[0].split())[:200]})') from None
    if not found:
      raise ConfigError(f'{where}: no {split} document with at least {max(min_words, 1)} '
                        f'word(s) in format {spec.kind}')


def build_source(data_cfg, workdir: str, hf_dir: str = '', check_vocab=None) -> DataSource:
  """Vocabulary (the Hugging Face checkpoint's tokenizer when HF_DIR is set) and the seqio task
  or mixture the config describes. check_vocab(vocab) runs before the corpus is read."""
  cap_tf_threads(data_cfg.tf_threads)
  recorded = workdir_vocab.recorded_path(workdir)
  if recorded:  # a resumed run keeps the vocabulary its embeddings were trained with
    voc = vocab.load(recorded, f'{workdir}/{workdir_vocab.DIRECTORY}')
  elif hf_dir:
    voc = vocab.load(hf_dir, 'init_from.hf_dir')
  else:
    voc = resolve_vocab(data_cfg, workdir)
  if check_vocab:
    check_vocab(voc)
  task = build_task(data_cfg, workdir, voc)
  tagger = taggers.build(data_cfg.tagger, voc) if data_cfg.tagger else None
  return DataSource(task, voc.tokens, voc.word_start, voc.path, voc, tagger)


def eval_set_sources(data_cfg, extra_sets: str, source: DataSource) -> list[tuple[str, DataSource]]:
  """eval.extra_sets as (name, DataSource): each set's held-out documents (1 in
  data.holdout_every by text hash, the bucket a run training on those files never sees),
  tokenized with SOURCE's vocabulary. The stability gap shows on a general-domain set while a
  run trains on a new domain."""
  out = []
  for name, kind, globs in parse_eval_sets(extra_sets):
    spec = tasks.SourceSpec(kind, train=_expand(globs, f'eval.extra_sets {name}'),
                            text_field=data_cfg.text_field, holdout_every=data_cfg.holdout_every)
    _require_documents(spec, True, data_cfg.min_doc_words)
    voc = source.vocab
    task = tasks.document_task(
        tasks.unique_name('evalset', spec, voc.path, data_cfg.min_doc_words, data_cfg.packing),
        tasks.make_source(spec), voc.seqio_vocab, voc.tokens, min_words=data_cfg.min_doc_words,
        packing_mode=data_cfg.packing, shuffle_buffer=data_cfg.shuffle_buffer)
    out.append((name, dataclasses.replace(source, task=task)))
  return out


def batch_keys(source: DataSource) -> tuple[str, ...]:
  """The (B, L) int32 features of every batch make_dataset yields for SOURCE."""
  return tuple(RENAME.values()) + (('unit_tags',) if source.tagger else ())


def _add_tags(ds: tf.data.Dataset, tagger) -> tf.data.Dataset:
  """The tagger on each batch, on the host (tf.py_function: deterministic, checkpointable)."""
  def tag(batch):
    tags = tf.py_function(lambda i, s: tagger.tag(i.numpy(), s.numpy()),
                          [batch['input_ids'], batch['segment_ids']], tf.int32)
    tags.set_shape(batch['input_ids'].shape)
    return {**batch, 'unit_tags': tags}
  return ds.map(tag)


def _rows(source: DataSource, seq_len: int, **kwargs) -> tf.data.Dataset:
  """Packed rows of the task or mixture (a mixture passes the packing features through)."""
  if isinstance(source.task, seqio.Mixture):
    kwargs['passthrough_features'] = [k for k in RENAME if k != 'targets']
  return source.task.get_dataset({'targets': seq_len}, use_cached=False, **kwargs)


def make_dataset(source: DataSource, split: str, seq_len: int, host_batch: int, *,
                 train: bool, seed: int, host_index: int = 0, host_count: int = 1,
                 tf_threads: int = 1, host_sharding: str = 'documents') -> tf.data.Dataset:
  """Batches of this host's rows. Train: shuffled, repeated, full batches. Eval: one pass,
  the last batch padded with empty rows (segment id 0: nothing to predict)."""
  by_rows = host_sharding == 'rows' and host_count > 1
  ds = _rows(source, seq_len, split=split, shuffle=train, seed=seed,
             shard_info=seqio.ShardInfo(host_index, host_count) if host_count > 1 and not by_rows
             else None, num_epochs=None if train else 1)
  if by_rows:  # read global batches, keep this host's slice of each
    ds = ds.batch(host_batch * host_count, drop_remainder=train)
    ds = ds.map(lambda b: {k: v[host_index * host_batch:(host_index + 1) * host_batch]
                           for k, v in b.items()}).unbatch()
  ds = ds.map(lambda ex: {new: tf.cast(ex[old], tf.int32) for old, new in RENAME.items()})
  if train:
    ds = ds.batch(host_batch, drop_remainder=True)
  else:
    ds = ds.padded_batch(host_batch, padded_shapes={k: [seq_len] for k in RENAME.values()})
    ds = ds.map(lambda b: {k: tf.pad(v, [[0, host_batch - tf.shape(v)[0]], [0, 0]])
                           for k, v in b.items()})
  if source.tagger:
    ds = _add_tags(ds, source.tagger)
  options = tf.data.Options()
  options.deterministic = True
  options.threading.private_threadpool_size = max(tf_threads, 1)
  options.threading.max_intra_op_parallelism = 1
  # A Hugging Face tokenizer runs in tf.py_function (deterministic): let its iterator checkpoint.
  options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
  return ds.with_options(options).prefetch(2)


class BatchIterator:
  """numpy batches from a tf.data iterator whose position saves and restores exactly."""

  def __init__(self, dataset: tf.data.Dataset):
    self._iterator = iter(dataset)
    self._ckpt = tf.train.Checkpoint(iterator=self._iterator)

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in next(self._iterator).items()}

  def save(self, path_prefix: str) -> None:
    self._ckpt.write(path_prefix)

  def restore(self, path_prefix: str) -> None:
    self._ckpt.read(path_prefix).assert_consumed()


def unbatched_rows(source: DataSource, split: str, seq_len: int):
  """One unshuffled pass over SPLIT's packed rows as numpy dicts (prepare_corpus, tests)."""
  ds = _rows(source, seq_len, split=split, shuffle=False, num_epochs=1)
  ds = ds.map(lambda ex: {new: tf.cast(ex[old], tf.int32) for old, new in RENAME.items()})
  return ds.as_numpy_iterator()
