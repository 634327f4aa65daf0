"""A Hugging Face tokenizer (from a local checkpoint directory) as a seqio vocabulary, so a run
started from a Hugging Face checkpoint reads text with that checkpoint's own ids."""
import os

import numpy as np
import seqio
import tensorflow as tf

from mlm_jax.config_lib import ConfigError
from mlm_jax.tokens import NO_MASK, SpecialTokens


def load_tokenizer(path: str, key: str = 'init_from.hf_dir', has_mask: bool = True):
  """A tokenizer directory (tokenizer.json / vocab.txt ...) or a bare BERT vocab.txt (read as
  BERT uncased, lower-casing) from local disk only; errors name KEY and PATH. A bare vocab.txt
  without [MASK] passes has_mask=False (else transformers appends one past the file's ids)."""
  os.environ.setdefault('HF_HUB_OFFLINE', '1')  # a local directory only; never the hub
  from transformers import AutoTokenizer, BertTokenizerFast  # pylint: disable=g-import-not-at-top
  try:
    if os.path.isfile(path):
      extra = {} if has_mask else {'mask_token': None}
      return BertTokenizerFast(path, do_lower_case=True, **extra)  # v5: vocab_file= is ignored
    return AutoTokenizer.from_pretrained(path)
  except (OSError, ValueError, TypeError) as e:
    raise ConfigError(f'{key}={path}: no usable tokenizer ({type(e).__name__})') from e


class HfVocabulary(seqio.Vocabulary):
  """Encodes without the tokenizer's own special tokens; packing adds [CLS]/[SEP] itself."""

  def __init__(self, tokenizer):
    self._tok = tokenizer
    super().__init__(extra_ids=0)

  @property
  def tokenizer(self):
    return self._tok

  @property
  def eos_id(self):
    return None

  @property
  def unk_id(self):
    return self._tok.unk_token_id

  @property
  def _base_vocab_size(self):
    return len(self._tok)

  def _encode(self, s):
    # Documents are encoded whole and split into rows later, so the tokenizer's "longer than
    # the maximum sequence length" warning is irrelevant here: verbose=False silences it.
    return self._tok(s, add_special_tokens=False, verbose=False)['input_ids']

  def _decode(self, ids):
    return self._tok.decode(list(ids))

  def _encode_tf(self, s):
    ids = tf.py_function(lambda x: np.asarray(self._encode(x.numpy().decode('utf-8')), np.int32),
                         [s], tf.int32)
    ids.set_shape([None])
    return ids

  def _decode_tf(self, ids):
    return tf.py_function(lambda x: self._decode(x.numpy().tolist()), [ids], tf.string)

  def __eq__(self, other):
    return isinstance(other, HfVocabulary) and other._tok is self._tok


def special_tokens(tokenizer, where: str = 'init_from.hf_dir') -> SpecialTokens:
  t = tokenizer
  for name in ('cls_token_id', 'sep_token_id', 'pad_token_id'):
    token_id = getattr(t, name)
    if token_id is None or token_id == t.unk_token_id:
      raise ConfigError(f'{where}: vocabulary has no {name[:-9].upper().join("[]")} token')
  mask = t.mask_token_id  # optional: objectives that never mask check it
  if mask is None or mask == t.unk_token_id:
    mask = NO_MASK
  return SpecialTokens(pad=t.pad_token_id, mask=mask, cls=t.cls_token_id,
                       sep=t.sep_token_id, special=tuple(sorted(set(t.all_special_ids))),
                       vocab_size=len(t))


def word_start_table(tokenizer) -> np.ndarray:
  """WordPiece continues words with '##'; SentencePiece and byte-BPE mark word starts."""
  vocab = tokenizer.get_vocab()
  pieces = [''] * len(tokenizer)
  for piece, i in vocab.items():
    if i < len(pieces):
      pieces[i] = piece
  wordpiece = any(p.startswith('##') for p in pieces)
  special = set(tokenizer.all_special_ids)
  return np.array([i in special or (not p.startswith('##') if wordpiece
                                    else p.startswith(('\u2581', '\u0120')))
                   for i, p in enumerate(pieces)])
