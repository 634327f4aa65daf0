"""seqio tasks and mixtures: the one place that touches seqio's global registries.

A task reads documents (data/readers.py formats, or a TFDS dataset), drops empty and stub
documents, tokenizes, and packs (data/packing.py) into fixed-length rows with
`targets_segment_ids` and `targets_positions`. A prepared corpus (data/prepared.py) is a task
over already packed rows. Sources without a validation split hold out the documents whose text
hashes to bucket 0 of `holdout_every`: the split does not depend on file order or host count,
and a duplicated document never lands on both sides.
"""
import dataclasses
import functools
import hashlib

import seqio
import tensorflow as tf

from mlm_jax.data import filters, packing, readers
from mlm_jax.tokens import SpecialTokens

FEATURE = packing.FEATURE


@dataclasses.dataclass(frozen=True)
class SourceSpec:
  """Where documents come from: files of one format, or a TFDS dataset."""
  kind: str  # a readers.FORMATS entry, or 'tfds'
  train: tuple[str, ...] = ()  # files (kind != tfds)
  validation: tuple[str, ...] = ()  # files; empty: hold out from train
  tfds_name: str = ''
  tfds_data_dir: str = ''
  text_field: str = 'text'
  holdout_every: int = 100
  filter: filters.FilterSpec = filters.FilterSpec()  # applied to the train split only

  @property
  def carves_validation(self) -> bool:
    return not self.validation


def _holdout(ds, split: str, every: int):
  bucket = lambda ex: tf.strings.to_hash_bucket_fast(ex['text'], every)  # noqa: E731
  if split == 'validation':
    return ds.filter(lambda ex: bucket(ex) == 0)
  return ds.filter(lambda ex: bucket(ex) != 0)


class DocumentFileSource(seqio.FileDataSource):
  """Files of one format -> {'text'}; validation carved out of train when not given."""

  def __init__(self, spec: SourceSpec):
    self._spec = spec
    files = {'train': list(spec.train), 'validation': list(spec.validation or spec.train)}
    super().__init__(readers.reader(spec.kind, spec.text_field, spec.filter.meta_fields), files)

  def get_dataset(self, split='train', shuffle=True, seed=None, shard_info=None, **kwargs):
    ds = super().get_dataset(split, shuffle, seed, shard_info, **kwargs)
    if self._spec.carves_validation:
      ds = _holdout(ds, split, self._spec.holdout_every)
    return filters.apply(ds, self._spec.filter) if split == 'train' else ds


class DocumentTfdsSource(seqio.TfdsDataSource):
  """A TFDS dataset by name (local or gs:// data_dir) -> {'text'}."""

  def __init__(self, spec: SourceSpec, has_validation: bool):
    self._spec, self._carve = spec, not has_validation
    super().__init__(tfds_name=spec.tfds_name, tfds_data_dir=spec.tfds_data_dir or None,
                     splits={'train': 'train', 'validation': 'validation' if has_validation
                             else 'train'})

  def get_dataset(self, split='train', shuffle=True, seed=None, shard_info=None, **kwargs):
    ds = super().get_dataset(split, shuffle, seed, shard_info, **kwargs)
    fields = self._spec.filter.meta_fields
    ds = ds.map(lambda ex: {'text': ex[self._spec.text_field],
                            **{filters.meta_key(k): tf.strings.as_string(ex[k])
                               if ex[k].dtype != tf.string else ex[k] for k in fields}})
    if self._carve:
      ds = _holdout(ds, split, self._spec.holdout_every)
    return filters.apply(ds, self._spec.filter) if split == 'train' else ds


def make_source(spec: SourceSpec, tfds_has_validation: bool = True) -> seqio.DataSource:
  if spec.kind == 'tfds':
    return DocumentTfdsSource(spec, tfds_has_validation)
  return DocumentFileSource(spec)


def keep_document(min_words: int):
  """Drops empty documents and stubs (redirects, disambiguation leftovers) under MIN_WORDS."""
  def keep(ds):
    words = lambda ex: tf.size(tf.strings.split(ex['text']))  # noqa: E731
    return ds.filter(lambda ex: (words(ex) >= max(min_words, 1)))
  return keep


@seqio.map_over_dataset
def _text_to_targets(ex):
  return {FEATURE: ex['text']}


def document_task(name: str, source: seqio.DataSource, vocab: seqio.Vocabulary,
                  tokens: SpecialTokens, *, min_words: int, packing_mode: str,
                  shuffle_buffer: int) -> seqio.Task:
  """Registers (or re-registers) a task: documents -> tokens -> packed rows."""
  return _register(name, source, [
      keep_document(min_words),
      _text_to_targets,
      seqio.preprocessors.tokenize,
      seqio.CacheDatasetPlaceholder(),
      functools.partial(packing.pack, mode=packing_mode, cls_id=tokens.cls, sep_id=tokens.sep),
  ], vocab, shuffle_buffer)


@seqio.map_over_dataset
def _prepared_features(ex):
  return {FEATURE: tf.cast(ex['input_ids'], tf.int32),
          FEATURE + '_segment_ids': tf.cast(ex['segment_ids'], tf.int32),
          FEATURE + '_positions': tf.cast(ex['positions'], tf.int32)}


def prepared_task(name: str, split_to_files: dict, seq_len: int, vocab: seqio.Vocabulary,
                  shuffle_buffer: int) -> seqio.Task:
  """Already tokenized and packed rows in TFRecord shards."""
  features = {k: tf.io.FixedLenFeature([seq_len], tf.int64)
              for k in ('input_ids', 'segment_ids', 'positions')}
  source = seqio.TFExampleDataSource(split_to_files, features)
  return _register(name, source, [_prepared_features], vocab, shuffle_buffer)


def _register(name, source, preprocessors, vocab, shuffle_buffer) -> seqio.Task:
  if name in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove(name)
  feature = seqio.Feature(vocab, add_eos=False, dtype=tf.int32)
  return seqio.TaskRegistry.add(name, source=source, preprocessors=preprocessors,
                                output_features={FEATURE: feature},
                                shuffle_buffer_size=shuffle_buffer)


def mixture(name: str, tasks_and_rates: list[tuple[seqio.Task, float]]) -> seqio.Mixture:
  if name in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove(name)
  return seqio.MixtureRegistry.add(name, [(t.name, rate) for t, rate in tasks_and_rates])


def unique_name(prefix: str, *parts) -> str:
  return f'mlm_jax_{prefix}_' + hashlib.sha1(repr(parts).encode()).hexdigest()[:12]
