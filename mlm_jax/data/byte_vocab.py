"""Byte-level vocabulary (as in ByT5/MonoByte): no training, no unknown tokens.

Ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK], as in every vocabulary here; byte b is id b + 5.
"""
import numpy as np
import seqio
import tensorflow as tf

SPECIALS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
OFFSET = len(SPECIALS)
SIZE = OFFSET + 256
NAME = 'byte'  # the value of data.vocab_path that selects this vocabulary


class ByteVocabulary(seqio.Vocabulary):

  def __init__(self):
    super().__init__(extra_ids=0)

  @property
  def eos_id(self):
    return None

  @property
  def unk_id(self):
    return 1

  @property
  def _base_vocab_size(self):
    return SIZE

  def _encode(self, s):
    return [b + OFFSET for b in s.encode('utf-8')]

  def _decode(self, ids):
    return bytes(i - OFFSET for i in ids if OFFSET <= i < SIZE).decode('utf-8', errors='replace')

  def _encode_tf(self, s):
    return tf.cast(tf.io.decode_raw(s, tf.uint8), tf.int32) + OFFSET

  def _decode_tf(self, ids):
    return tf.py_function(lambda x: self._decode(x.numpy().tolist()), [ids], tf.string)

  def __eq__(self, other):
    return isinstance(other, ByteVocabulary)


def word_start_table() -> np.ndarray:
  """Whole-word masking needs context for bytes; every byte counts as its own word."""
  return np.ones(SIZE, bool)
