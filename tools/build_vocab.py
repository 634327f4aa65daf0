"""Train a vocabulary on the documents of any configured source.

python tools/build_vocab.py --config=configs/wiki.py --workdir=/tmp/scratch \
    --type=wordpiece --size=30522 --out=/data/vocab/wiki_wordpiece
  --type=unigram|bpe: a SentencePiece model, OUT must end in .model
  --type=wordpiece:   a BERT vocab.txt (+ tokenizer.json) in the directory OUT
Every kind puts [PAD] [UNK] [CLS] [SEP] [MASK] at ids 0-4. Point data.vocab_path at the result
(for wordpiece: OUT/vocab.txt or OUT itself). The byte vocabulary needs no training:
data.vocab_path=byte.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from mlm_jax import config_lib, fs, main as entry, validation  # noqa: E402

_TYPE = flags.DEFINE_enum('type', 'unigram', ['unigram', 'bpe', 'wordpiece'], 'Vocabulary kind.')
_SIZE = flags.DEFINE_integer('size', 8000, 'Vocabulary size.')
_OUT = flags.DEFINE_string('out', None, 'Output .model file (SentencePiece) or directory '
                           '(WordPiece).', required=True)
_LOWERCASE = flags.DEFINE_bool('lowercase', True, 'WordPiece: lower-case and strip accents '
                               '(BERT uncased).')
_MAX_DOCS = flags.DEFINE_integer('max_documents', 0, 'Train on at most this many documents '
                                 '(0: all).')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from mlm_jax.data import pipeline, vocab, vocab_builder  # pylint: disable=g-import-not-at-top
  config = entry.config()
  try:
    validation.validate(config, 1)
    pipeline.cap_tf_threads(config.data.tf_threads)
    docs = pipeline.documents(config.data, entry.workdir())
    texts = (t.decode('utf-8') for t in docs.map(lambda ex: ex['text']).as_numpy_iterator())
    if _TYPE.value == 'wordpiece':
      with fs.local_dir(_OUT.value) as local:  # a local directory or gs://
        vocab_builder.train_wordpiece(texts, local, _SIZE.value, _LOWERCASE.value,
                                      _MAX_DOCS.value)
      out = _OUT.value
    else:
      if not _OUT.value.endswith('.model'):
        raise config_lib.ConfigError(f'--out={_OUT.value}: a SentencePiece model must end in '
                                     '.model')
      try:
        with fs.local_dir(os.path.dirname(fs.absolute(_OUT.value)), create=True) as local:
          vocab_builder.train_sentencepiece(texts, os.path.join(local, os.path.basename(
              _OUT.value)), _SIZE.value, _TYPE.value, _MAX_DOCS.value)
      except vocab_builder.VocabSizeError as e:
        raise config_lib.ConfigError(f'--size={_SIZE.value}: {e}') from None
      out = _OUT.value
    loaded = vocab.load(out)
  except config_lib.ConfigError as e:
    sys.exit(f'error: {e}')
  t = loaded.tokens
  print(f'{_TYPE.value} vocabulary of {t.vocab_size} tokens at {out} '
        f'([PAD]={t.pad} [CLS]={t.cls} [SEP]={t.sep} [MASK]={t.mask})')


if __name__ == '__main__':
  app.run(main, flags_parser=entry.parse_flags)
