"""Training vocabularies from any document stream: SentencePiece (unigram or BPE) and BERT
WordPiece. Special tokens take ids 0-4 ([PAD] [UNK] [CLS] [SEP] [MASK]) in both, so exported
Hugging Face tokenizers reproduce the training ids."""
import os
import re
from collections.abc import Iterable, Iterator

import sentencepiece as spm

SPECIAL_PIECES = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
MAX_PIECE_CHARS = 8192  # SentencePiece skips longer "sentences"; long documents are cut


def _pieces(texts: Iterable[str], max_documents: int) -> Iterator[str]:
  for i, text in enumerate(texts):
    if max_documents and i >= max_documents:
      return
    while len(text) > MAX_PIECE_CHARS:
      cut = text.rfind(' ', 0, MAX_PIECE_CHARS)
      cut = cut if cut > 0 else MAX_PIECE_CHARS
      yield text[:cut]
      text = text[cut:].lstrip()
    if text:
      yield text


class VocabSizeError(ValueError):
  """The corpus has too few distinct pieces for the requested vocabulary size."""


def train_sentencepiece(texts: Iterable[str], model_path: str, vocab_size: int,
                        model_type: str = 'unigram', max_documents: int = 0) -> str:
  """Writes MODEL_PATH (and .vocab beside it) atomically."""
  if not model_path.endswith('.model'):
    raise ValueError(f'{model_path}: a SentencePiece model path must end in .model')
  prefix = model_path[:-len('.model')] + '.tmp'
  try:
    spm.SentencePieceTrainer.train(
        sentence_iterator=_pieces(texts, max_documents), model_prefix=prefix,
        vocab_size=vocab_size, model_type=model_type,
        pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, pad_piece='[PAD]', unk_piece='[UNK]',
        user_defined_symbols=['[CLS]', '[SEP]', '[MASK]'], character_coverage=0.9995,
        byte_fallback=True, input_sentence_size=2_000_000, shuffle_input_sentence=True,
        max_sentence_length=MAX_PIECE_CHARS * 4, num_threads=os.cpu_count() or 1, minloglevel=2)
  except RuntimeError as e:
    # SentencePiece: "Vocabulary size too high (30522). Please set it to a value <= 12425."
    limit = re.search(r'Vocabulary size too high.*<= (\d+)', str(e))
    if limit:
      raise VocabSizeError(f'the corpus supports at most {limit.group(1)} SentencePiece '
                           f'pieces, not {vocab_size}') from None
    raise
  os.replace(prefix + '.model', model_path)
  os.replace(prefix + '.vocab', model_path[:-len('.model')] + '.vocab')
  return model_path


def train_wordpiece(texts: Iterable[str], out_dir: str, vocab_size: int, lowercase: bool = True,
                    max_documents: int = 0) -> str:
  """BERT WordPiece: OUT_DIR/vocab.txt plus a tokenizer.json (normalizer, pre-tokenizer,
  [CLS]/[SEP] template) that transformers loads; returns OUT_DIR."""
  from tokenizers import BertWordPieceTokenizer  # pylint: disable=g-import-not-at-top
  tok = BertWordPieceTokenizer(lowercase=lowercase, strip_accents=lowercase or None)
  tok.train_from_iterator(_pieces(texts, max_documents), vocab_size=vocab_size,
                          special_tokens=list(SPECIAL_PIECES), limit_alphabet=1000,
                          wordpieces_prefix='##', show_progress=False)
  os.makedirs(out_dir, exist_ok=True)
  tok.save_model(out_dir)
  tok.save(os.path.join(out_dir, 'tokenizer.json'))
  from transformers import BertTokenizerFast  # pylint: disable=g-import-not-at-top
  BertTokenizerFast(tokenizer_file=os.path.join(out_dir, 'tokenizer.json'),
                    do_lower_case=lowercase).save_pretrained(out_dir)
  return out_dir
