"""A Hugging Face fast tokenizer that reproduces our SentencePiece ids, [CLS]/[SEP] included."""
from sentencepiece import sentencepiece_model_pb2
from tokenizers import processors
from transformers import PreTrainedTokenizerFast
from transformers.convert_slow_tokenizer import SpmConverter

from mlm_jax.data.vocab import SPECIAL_PIECES


def from_sentencepiece(model_path: str) -> PreTrainedTokenizerFast:
  proto = sentencepiece_model_pb2.ModelProto()
  with open(model_path, 'rb') as f:
    proto.ParseFromString(f.read())
  vocab = [(p.piece, p.score) for p in proto.pieces]
  # transformers' own SentencePiece -> tokenizers translation (normaliser, pre-tokeniser, decoder)
  backend = SpmConverter.build_tokenizer_from_spm_proto(proto, vocab, legacy=True)
  ids = {p.piece: i for i, p in enumerate(proto.pieces)}
  cls, sep = ('[CLS]', ids['[CLS]']), ('[SEP]', ids['[SEP]'])
  backend.post_processor = processors.TemplateProcessing(
      single='[CLS] $A [SEP]', pair='[CLS] $A [SEP] $B:1 [SEP]:1', special_tokens=[cls, sep])
  pad, unk, cls_t, sep_t, mask = SPECIAL_PIECES
  return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=pad, unk_token=unk,
                                 cls_token=cls_t, sep_token=sep_t, mask_token=mask,
                                 model_max_length=512)


def for_vocab(vocab_path: str):
  """(tokenizer to save beside an export, special-token ids) for any training vocabulary."""
  from mlm_jax.config_lib import ConfigError  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
  v = vocab_lib.load(vocab_path)
  if v.kind == 'byte':
    raise ConfigError('data.vocab_path=byte: transformers has no tokenizer with these ids; '
                      'export the weights of a SentencePiece or WordPiece run')
  if v.kind == 'sentencepiece':
    from mlm_jax import fs  # pylint: disable=g-import-not-at-top
    return from_sentencepiece(fs.cached_local(vocab_path)), v.tokens
  return v.seqio_vocab.tokenizer, v.tokens  # WordPiece / tokenizer directory: already HF
