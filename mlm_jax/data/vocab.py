"""Vocabularies: SentencePiece with BERT's special tokens at fixed ids, trained or loaded, and
`load` for every kind data.vocab_path names.

Ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK] in every vocabulary this project trains (SentencePiece,
WordPiece, bytes). Special tokens are always looked up by their text, never by position, so a
loaded vocabulary (e.g. Google's BERT vocab.txt with [MASK] = 103) works the same way.
"""
from __future__ import annotations  # seqio (and TensorFlow) load only when a vocabulary does

import dataclasses
import hashlib
import os
import typing

import numpy as np
import sentencepiece as spm

if typing.TYPE_CHECKING:
  import seqio

from mlm_jax import fs
from mlm_jax.config_lib import ConfigError
from mlm_jax.tokens import NO_MASK, SpecialTokens

SPECIAL_PIECES = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
WORD_START = '\u2581'  # SentencePiece's word-boundary marker


def train_sentencepiece(text_file: str, model_path: str, vocab_size: int,
                        model_type: str = 'unigram') -> str:
  """Trains a SentencePiece model on one text file (one document per line)."""
  from mlm_jax.data import vocab_builder  # pylint: disable=g-import-not-at-top
  with open(text_file, encoding='utf-8') as f:
    return vocab_builder.train_sentencepiece((line.rstrip('\n') for line in f), model_path,
                                             vocab_size, model_type)


def load_processor(model_path: str) -> spm.SentencePieceProcessor:
  try:
    sp = spm.SentencePieceProcessor(model_file=model_path)
  except (OSError, RuntimeError) as e:
    raise ConfigError(f'data.vocab_path={model_path}: not a readable SentencePiece model') from e
  return sp


def special_tokens(sp: spm.SentencePieceProcessor, where: str = 'data.vocab_path') -> SpecialTokens:
  ids = {p: sp.piece_to_id(p) for p in SPECIAL_PIECES}
  for piece in ('[CLS]', '[SEP]', '[PAD]'):
    if sp.id_to_piece(ids[piece]) != piece:
      raise ConfigError(f'{where}: vocabulary has no {piece} token')
  if sp.id_to_piece(ids['[MASK]']) != '[MASK]':  # allowed: objectives that never mask check it
    ids['[MASK]'] = NO_MASK
  return SpecialTokens(pad=ids['[PAD]'], mask=ids['[MASK]'], cls=ids['[CLS]'], sep=ids['[SEP]'],
                       special=tuple(sorted(set(ids.values()) - {NO_MASK})),
                       vocab_size=sp.get_piece_size())


def word_start_table(sp: spm.SentencePieceProcessor) -> np.ndarray:
  """True for pieces that begin a word (and for specials): whole-word masking groups the rest."""
  out = np.zeros(sp.get_piece_size(), bool)
  for i in range(sp.get_piece_size()):
    piece = sp.id_to_piece(i)
    out[i] = piece.startswith(WORD_START) or sp.is_control(i) or piece in SPECIAL_PIECES
  return out


@dataclasses.dataclass
class Vocab:
  seqio_vocab: seqio.Vocabulary
  tokens: SpecialTokens
  word_start: np.ndarray  # (vocab,) bool, for whole-word masking
  path: str
  kind: str  # sentencepiece | wordpiece | hf | byte


def load(path: str, key: str = 'data.vocab_path') -> Vocab:
  """`byte`, a SentencePiece .model, a WordPiece vocab.txt, or a tokenizer directory."""
  from mlm_jax.data import byte_vocab, hf_vocab  # pylint: disable=g-import-not-at-top
  where = f'{key}={path}'
  if path == byte_vocab.NAME:
    tokens = SpecialTokens(pad=0, mask=4, cls=2, sep=3, special=(0, 1, 2, 3, 4),
                           vocab_size=byte_vocab.SIZE)
    return Vocab(byte_vocab.ByteVocabulary(), tokens, byte_vocab.word_start_table(), path, 'byte')
  if not fs.exists(path):
    raise ConfigError(f'{where}: no such file or directory')
  if fs.is_remote(path):  # read from a local copy; the run still records the remote path
    return dataclasses.replace(load(fs.cached_local(path), key), path=path)
  if path.endswith('.model'):
    import seqio  # pylint: disable=g-import-not-at-top
    sp = load_processor(path)
    return Vocab(seqio.SentencePieceVocabulary(path), special_tokens(sp, where),
                 word_start_table(sp), path, 'sentencepiece')
  if os.path.isfile(path):  # a bare vocab.txt: transformers would append missing specials
    try:
      with open(path, encoding='utf-8') as f:
        pieces = set(f.read().split('\n'))
    except (OSError, UnicodeDecodeError) as e:
      raise ConfigError(f'{where}: unreadable vocabulary ({type(e).__name__})') from e
    for piece in ('[CLS]', '[SEP]', '[PAD]'):
      if piece not in pieces:
        raise ConfigError(f'{where}: vocabulary has no {piece} token')
  tok = hf_vocab.load_tokenizer(path, key, has_mask=os.path.isdir(path) or '[MASK]' in pieces)
  return Vocab(hf_vocab.HfVocabulary(tok), hf_vocab.special_tokens(tok, where),
               hf_vocab.word_start_table(tok), path,
               'wordpiece' if os.path.isfile(path) else 'hf')


def fingerprint(path: str) -> str:
  """sha256 of the vocabulary's defining file: prepared corpora record it and are refused when
  the configured vocabulary differs."""
  if not fs.exists(path):
    return hashlib.sha256(path.encode()).hexdigest()
  path = fs.cached_local(path)
  if os.path.isdir(path):
    for name in ('tokenizer.json', 'vocab.txt', 'spiece.model', 'sentencepiece.bpe.model'):
      if os.path.isfile(os.path.join(path, name)):
        path = os.path.join(path, name)
        break
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()
