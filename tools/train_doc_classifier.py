"""Trains a document classifier for the quality or toxicity filter (data.filter.*_model):
logistic regression on hashed word n-grams, positives against negatives
(mlm_jax/data/doc_classifier.py). For quality, positives are reference text (Wikipedia, books,
curated sites) and negatives the raw corpus; for toxicity, positives are toxic examples.

python tools/train_doc_classifier.py --positive='wiki/*' --positive_format=wikiextractor \
    --negative='web/*.jsonl' --negative_format=jsonl --label='quality: wiki vs web' \
    --out=/tmp/quality.npz
One document in ten (by text hash) is held out; the tool prints its balanced accuracy.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from mlm_jax.config_lib import ConfigError  # noqa: E402


def define_flags() -> None:
  """Defined when run as a command only, so tests can import this module beside others."""
  flags.DEFINE_string('positive', None, 'Globs (comma-separated) of the positive class.')
  flags.DEFINE_string('negative', None, 'Globs (comma-separated) of the negative class.')
  flags.DEFINE_string('positive_format', 'lines', 'Document format of --positive.')
  flags.DEFINE_string('negative_format', 'lines', 'Document format of --negative.')
  flags.DEFINE_string('text_field', 'text', 'jsonl / tfrecord text field.')
  flags.DEFINE_integer('min_words', 20, 'Documents with fewer words are skipped.')
  flags.DEFINE_integer('max_docs', 20000, 'Documents read per class (0: all).')
  flags.DEFINE_integer('buckets', 2 ** 18, 'Hash buckets of the n-gram features.')
  flags.DEFINE_float('l2', 1e-4, 'L2 penalty.')
  flags.DEFINE_string('label', '', 'What the positive class is (stored in the model).')
  flags.DEFINE_string('out', None, 'Output .npz.')


def read(globs: str, fmt: str, text_field: str, min_words: int, max_docs: int) -> list[str]:
  """The documents of GLOBS in format FMT (data/readers.py), in file order."""
  from mlm_jax.data import checks, pipeline, tasks  # pylint: disable=g-import-not-at-top
  if fmt not in checks.FORMATS:
    raise ConfigError(f'format {fmt!r} must be one of {"|".join(checks.FORMATS)}')
  files = pipeline._expand(globs, globs)  # pylint: disable=protected-access
  spec = tasks.SourceSpec(fmt, train=files, validation=files, text_field=text_field)
  ds = tasks.keep_document(min_words)(tasks.make_source(spec).get_dataset('train', shuffle=False))
  if max_docs:
    ds = ds.take(max_docs)
  return [t.decode('utf-8') for t in ds.map(lambda ex: ex['text']).as_numpy_iterator()]


def train(positive: list[str], negative: list[str], buckets: int, l2: float,
          label: str) -> tuple:
  """(model fitted on 9 in 10 documents, balanced accuracy on the held-out tenth)."""
  import zlib  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import doc_classifier  # pylint: disable=g-import-not-at-top
  held = lambda t: zlib.crc32(t.encode('utf-8')) % 10 == 0  # noqa: E731
  model = doc_classifier.fit([t for t in positive if not held(t)],
                             [t for t in negative if not held(t)], buckets, l2, label)
  accuracies = []
  for texts, target in ((positive, 1), (negative, 0)):
    test = [t for t in texts if held(t)]
    if test:
      accuracies.append(float(np.mean((doc_classifier.scores(model, test) >= 0.5) == target)))
  return model, (sum(accuracies) / len(accuracies) if len(accuracies) == 2 else float('nan'))


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from mlm_jax.data import doc_classifier  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  try:
    if not f.positive or not f.negative or not f.out:
      raise ConfigError('--positive, --negative and --out are required')
    pos = read(f.positive, f.positive_format, f.text_field, f.min_words, f.max_docs)
    neg = read(f.negative, f.negative_format, f.text_field, f.min_words, f.max_docs)
    model, accuracy = train(pos, neg, f.buckets, f.l2, f.label)
    doc_classifier.save(model, f.out)
  except ConfigError as e:
    sys.exit(f'error: {e}')
  print(f'{f.out}: {len(pos):,} positive and {len(neg):,} negative documents; held-out '
        f'balanced accuracy {accuracy:.3f}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
