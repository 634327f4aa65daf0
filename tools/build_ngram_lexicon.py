"""Build ERNIE-Gram's n-gram lexicon (T-test extraction) from the documents of any configured
source, tokenized with the run's vocabulary.

python tools/build_ngram_lexicon.py --config=configs/wiki.py --workdir=/tmp/scratch \
    --config.data.train_files='/data/enwiki/*/wiki_*' \
    --config.data.vocab_path=/data/vocab/wiki_wordpiece/vocab.txt --out=/data/lexicon.npz
Then train with configs/ernie_gram.py and objective.ngram_lexicon=/data/lexicon.npz (its
model.ngram_vocab_size must be at least the lexicon size, --size by default).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from mlm_jax import config_lib, fs, main as entry, ngrams, validation  # noqa: E402

_OUT = flags.DEFINE_string('out', None, 'Output .npz file.', required=True)
_SIZE = flags.DEFINE_integer('size', 10_000, 'Lexicon entries (split evenly over lengths).')
_MAX_LEN = flags.DEFINE_integer('max_len', 3, 'Longest n-gram, in tokens (2..).')
_MIN_COUNT = flags.DEFINE_integer('min_count', 5, 'Fewest corpus occurrences of an entry.')
_MAX_DOCS = flags.DEFINE_integer('max_documents', 0, 'Count at most this many documents '
                                 '(0: all).')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from mlm_jax.data import ngram_lexicon, pipeline, vocab  # pylint: disable=g-import-not-at-top
  config = entry.config()
  try:
    validation.validate(config, 1)
    if _MAX_LEN.value < 2 or _SIZE.value < 1:
      raise config_lib.ConfigError(f'--max_len={_MAX_LEN.value} must be >= 2 and '
                                   f'--size={_SIZE.value} >= 1')
    if not _OUT.value.endswith('.npz'):
      raise config_lib.ConfigError(f'--out={_OUT.value} must end in .npz')
    pipeline.cap_tf_threads(config.data.tf_threads)
    voc = pipeline.resolve_vocab(config.data, entry.workdir())
    texts = pipeline.documents(config.data, entry.workdir()).map(lambda ex: ex['text'])
    if _MAX_DOCS.value:
      texts = texts.take(_MAX_DOCS.value)
    docs = (voc.seqio_vocab.encode_tf(t).numpy() for t in texts)
    # Punctuation never enters an n-gram ('. the' is not a unit of meaning).
    no_word = [i for i in range(voc.tokens.vocab_size)
               if not any(ch.isalnum() for ch in voc.seqio_vocab.decode([i]))]
    excluded = tuple(sorted(set(voc.tokens.special) | set(no_word)))
    lex = ngram_lexicon.build(docs, voc.word_start, excluded, voc.tokens.vocab_size,
                              vocab.fingerprint(voc.path), _MAX_LEN.value, _SIZE.value,
                              _MIN_COUNT.value)
    if not lex.size:
      raise config_lib.ConfigError(f'no n-gram occurs --min_count={_MIN_COUNT.value} times')
    with fs.local_dir(os.path.dirname(fs.absolute(_OUT.value)), create=True) as local:  # or gs://
      ngrams.save(lex, os.path.join(local, os.path.basename(_OUT.value)))
  except config_lib.ConfigError as e:
    sys.exit(f'error: {e}')
  per_len = {n: int((lex.lengths == n).sum()) for n in range(2, lex.max_len + 1)}
  best = [' '.join(voc.seqio_vocab.decode([int(i)]) for i in row[row >= 0])
          for row in lex.ngrams[(-lex.tstat).argsort()[:10]]]
  print(f'{lex.size} n-grams {per_len} at {_OUT.value}; highest t: {best}')


if __name__ == '__main__':
  app.run(main, flags_parser=entry.parse_flags)
