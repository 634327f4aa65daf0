"""Rows of fixed length from tokenized documents, each piece wrapped as [CLS] piece [SEP].

fill    documents are streamed into rows back to back; a document that does not fit the rest of
        the row continues in the next row (a new segment). Only a tail of < 3 tokens per row is
        padding: >= 98% of tokens are real at length 128 (RoBERTa/MosaicBERT-style packing).
greedy  documents are cut into row-sized chunks and seqio's packer places whole chunks; a chunk
        never straddles rows, so more padding.
pad     truncate-and-pad: every chunk gets its own padded row (one segment per row).
Every mode keeps every token: long documents become several chunks, never truncated away.
Output features: targets, targets_segment_ids (1.. per segment, 0 = pad), targets_positions.
"""
import seqio
import tensorflow as tf

FEATURE = 'targets'
MODES = ('fill', 'greedy', 'pad')


def split_and_wrap(ds, seq_len: int, cls_id: int, sep_id: int):
  """Token lists -> chunks of at most L-2 tokens, each as [CLS] chunk [SEP]."""
  body = seq_len - 2

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


def pad_rows(ds, seq_len: int):
  def pad(ex):
    ids = tf.cast(ex[FEATURE], tf.int32)
    n = tf.shape(ids)[0]
    tail = [[0, seq_len - n]]
    return {FEATURE: tf.ensure_shape(tf.pad(ids, tail), [seq_len]),
            FEATURE + '_segment_ids': tf.ensure_shape(tf.pad(tf.ones([n], tf.int32), tail),
                                                      [seq_len]),
            FEATURE + '_positions': tf.ensure_shape(tf.pad(tf.range(n), tail), [seq_len])}
  return ds.map(pad)


def fill_rows(ds, seq_len: int, cls_id: int, sep_id: int):
  """A tf.data scan whose state is the row being filled, so the packer's position is part of
  the iterator checkpoint. A sentinel after the last document flushes the final partial row."""
  L = seq_len
  docs = ds.map(lambda ex: (tf.cast(ex[FEATURE], tf.int32), False)).concatenate(
      tf.data.Dataset.from_tensors((tf.zeros([0], tf.int32), True)))
  empty = tf.zeros([3, L], tf.int32)  # (tokens, segment ids, positions)

  def step(state, doc):
    row, fill, nseg = state
    ids, flush = doc
    n = tf.shape(ids)[0]
    out = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[3, L])

    def emit(row, out):
      return empty, 0, 0, out.write(out.size(), row)

    def body(start, row, fill, nseg, out):
      k = tf.minimum(L - fill - 2, n - start)
      piece = tf.stack([tf.concat([[cls_id], ids[start:start + k], [sep_id]], 0),
                        tf.fill([k + 2], nseg + 1), tf.range(k + 2)])
      row = tf.concat([row[:, :fill], piece, row[:, fill + k + 2:]], 1)
      row.set_shape([3, L])
      fill, nseg = fill + k + 2, nseg + 1
      row, fill, nseg, out = tf.cond(L - fill < 3, lambda: emit(row, out),
                                     lambda: (row, fill, nseg, out))
      return start + k, row, fill, nseg, out

    _, row, fill, nseg, out = tf.while_loop(
        lambda start, *_: start < n, body, (0, row, fill, nseg, out),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([3, L]), tf.TensorShape([]),
                          tf.TensorShape([]), tf.TensorSpec(None, tf.variant)))
    row, fill, nseg, out = tf.cond(flush & (fill > 0), lambda: emit(row, out),
                                   lambda: (row, fill, nseg, out))
    return (row, fill, nseg), out.stack()

  rows = docs.scan((empty, tf.constant(0), tf.constant(0)), step)
  rows = rows.flat_map(tf.data.Dataset.from_tensor_slices)
  return rows.map(lambda r: {FEATURE: r[0], FEATURE + '_segment_ids': r[1],
                             FEATURE + '_positions': r[2]})


def pack(ds, sequence_length, *, mode: str, cls_id: int, sep_id: int):
  """seqio post-cache preprocessor: tokenized documents -> packed rows."""
  seq_len = sequence_length[FEATURE]
  if mode == 'fill':
    return fill_rows(ds, seq_len, cls_id, sep_id)
  chunks = split_and_wrap(ds, seq_len, cls_id, sep_id)
  if mode == 'pad':
    return pad_rows(chunks, seq_len)
  return seqio.utils.trim_and_pack_dataset(chunks, {FEATURE: seq_len})
