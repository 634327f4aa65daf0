"""Vocabularies: SentencePiece with BERT's special tokens at fixed ids, trained or loaded.

Ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK] in every vocabulary this module trains.
"""
import os

import numpy as np
import sentencepiece as spm

from mlm_jax.config_lib import ConfigError
from mlm_jax.objectives.masking import SpecialTokens

SPECIAL_PIECES = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
WORD_START = '\u2581'  # SentencePiece's word-boundary marker


def train_sentencepiece(text_file: str, model_path: str, vocab_size: int,
                        model_type: str = 'unigram') -> str:
  """Trains a SentencePiece model on one text file; writes MODEL_PATH atomically."""
  prefix = model_path[:-len('.model')] + '.tmp'
  spm.SentencePieceTrainer.train(
      input=text_file, model_prefix=prefix, vocab_size=vocab_size, model_type=model_type,
      pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, pad_piece='[PAD]', unk_piece='[UNK]',
      user_defined_symbols=['[CLS]', '[SEP]', '[MASK]'], character_coverage=0.9995,
      byte_fallback=True, input_sentence_size=2_000_000, shuffle_input_sentence=True,
      max_sentence_length=1 << 16, num_threads=os.cpu_count() or 1, minloglevel=2)
  os.replace(prefix + '.model', model_path)
  os.replace(prefix + '.vocab', model_path[:-len('.model')] + '.vocab')
  return model_path


def load_processor(model_path: str) -> spm.SentencePieceProcessor:
  try:
    sp = spm.SentencePieceProcessor(model_file=model_path)
  except (OSError, RuntimeError) as e:
    raise ConfigError(f'data.vocab_path={model_path}: not a readable SentencePiece model') from e
  return sp


def special_tokens(sp: spm.SentencePieceProcessor) -> SpecialTokens:
  ids = {p: sp.piece_to_id(p) for p in SPECIAL_PIECES}
  for piece in ('[MASK]', '[CLS]', '[SEP]', '[PAD]'):
    if sp.id_to_piece(ids[piece]) != piece:
      raise ConfigError(f'vocabulary has no {piece} token')
  return SpecialTokens(pad=ids['[PAD]'], mask=ids['[MASK]'], cls=ids['[CLS]'], sep=ids['[SEP]'],
                       special=tuple(sorted(set(ids.values()))), vocab_size=sp.get_piece_size())


def word_start_table(sp: spm.SentencePieceProcessor) -> np.ndarray:
  """True for pieces that begin a word (and for specials): whole-word masking groups the rest."""
  out = np.zeros(sp.get_piece_size(), bool)
  for i in range(sp.get_piece_size()):
    piece = sp.id_to_piece(i)
    out[i] = piece.startswith(WORD_START) or sp.is_control(i) or piece in SPECIAL_PIECES
  return out
