"""seqio tasks: the one place that touches seqio's global TaskRegistry.

A task reads documents (one per line), tokenizes them, splits each into chunks that fit a row
with [CLS] ... [SEP] around them (long documents are split, never dropped), and packs chunks
into fixed-length rows with `targets_segment_ids` and `targets_positions`.
"""
import functools
import hashlib

import seqio
import tensorflow as tf

from mlm_jax.objectives.masking import SpecialTokens

FEATURE = 'targets'


@seqio.map_over_dataset
def _line_to_features(line):
  return {FEATURE: line}


def _drop_empty(ds):
  return ds.filter(lambda ex: tf.strings.length(tf.strings.strip(ex[FEATURE])) > 0)


def split_and_wrap(ds, sequence_length, cls_id: int, sep_id: int):
  """Token lists -> chunks of at most L-2 tokens, each as [CLS] chunk [SEP]."""
  body = sequence_length[FEATURE] - 2

  def chunks(ex):
    ids = ex[FEATURE]
    n = tf.shape(ids)[0]
    rows = tf.RaggedTensor.from_row_lengths(
        ids, tf.concat([tf.fill([n // body], body), tf.reshape(n % body, [1])], 0))
    rows = tf.gather(rows, tf.where(rows.row_lengths() > 0)[:, 0])
    cls = tf.fill([rows.nrows(), 1], tf.cast(cls_id, ids.dtype))
    sep = tf.fill([rows.nrows(), 1], tf.cast(sep_id, ids.dtype))
    return tf.data.Dataset.from_tensor_slices({FEATURE: tf.concat([cls, rows, sep], axis=1)})

  return ds.flat_map(chunks)


def pack(ds, sequence_length):
  return seqio.utils.trim_and_pack_dataset(ds, {FEATURE: sequence_length[FEATURE]})


def text_line_task(name: str, split_to_files: dict, vocab: seqio.Vocabulary,
                   tokens: SpecialTokens, shuffle_buffer: int) -> seqio.Task:
  """Registers (or re-registers) a task over text files, one document per line."""
  if name in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove(name)
  return seqio.TaskRegistry.add(
      name,
      source=seqio.TextLineDataSource(split_to_files),
      preprocessors=[
          _line_to_features,
          _drop_empty,
          seqio.preprocessors.tokenize,
          seqio.CacheDatasetPlaceholder(),
          functools.partial(split_and_wrap, cls_id=tokens.cls, sep_id=tokens.sep),
          pack,
      ],
      output_features={FEATURE: seqio.Feature(vocab, add_eos=False, dtype=tf.int32)},
      shuffle_buffer_size=shuffle_buffer,
  )


def task_name(split_to_files: dict, vocab_path: str) -> str:
  key = repr(sorted(split_to_files.items())) + vocab_path
  return 'mlm_jax_text_' + hashlib.sha1(key.encode()).hexdigest()[:12]
