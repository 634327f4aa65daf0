"""Document readers: one file -> a tf.data stream of {'text': document}, pure TensorFlow (so
the iterator position checkpoints), for every on-disk format the trainer accepts.

lines          one document per line (WikiText, the built-in corpus, most dumps)
blocks         documents separated by blank lines (Tiny Shakespeare speeches, books)
wikiextractor  <doc id=.. title=..> / title line / paragraphs / </doc> (BERT's Wikipedia path);
               the title line is dropped and paragraphs are joined with a space
jsonl          one JSON object per line; the text is in `text_field`
tfrecord       tf.train.Example records with a bytes feature `text_field`
Files ending in .gz are read as gzip.
"""
import json

import numpy as np
import tensorflow as tf

FORMATS = ('lines', 'blocks', 'wikiextractor', 'jsonl', 'tfrecord')


def _compression(path):
  return tf.where(tf.strings.regex_full_match(path, r'.*\.gz'), 'GZIP', '')


def _lines(path):
  return tf.data.TextLineDataset(path, compression_type=_compression(path))


def _text(ds):
  return ds.map(lambda t: {'text': t})


def _join(acc, line):
  return tf.where(tf.strings.length(acc) > 0, tf.strings.join([acc, line], ' '), line)


def _blocks(path):
  """Blank line = document boundary; a sentinel blank line flushes the file's last document."""
  def step(acc, line):
    blank = tf.strings.length(tf.strings.strip(line)) == 0
    out = tf.where(blank, acc, '')
    return tf.where(blank, '', _join(acc, line)), out
  lines = _lines(path).concatenate(tf.data.Dataset.from_tensors(tf.constant('')))
  return _text(lines.scan(tf.constant(''), step).filter(lambda d: tf.strings.length(d) > 0))


def _wikiextractor(path):
  """State: (inside a <doc>, lines seen in it, text so far). Emits the text at </doc>."""
  def step(state, line):
    inside, seen, acc = state
    opens = tf.strings.regex_full_match(line, r'<doc[ >].*')
    closes = tf.equal(tf.strings.strip(line), '</doc>')
    body = inside & ~opens & ~closes
    keep = body & (seen > 0) & (tf.strings.length(tf.strings.strip(line)) > 0)  # seen 0: title
    new_acc = tf.where(opens, '', tf.where(keep, _join(acc, line), acc))
    new_inside = (inside | opens) & ~closes
    new_seen = tf.where(opens, 0, seen + tf.cast(body, tf.int32))
    out = tf.where(closes & inside, acc, '')
    return (new_inside, new_seen, new_acc), out
  init = (tf.constant(False), tf.constant(0), tf.constant(''))
  return _text(_lines(path).scan(init, step).filter(lambda d: tf.strings.length(d) > 0))


def _jsonl(path, text_field):
  def field(line):
    value = json.loads(line.numpy().decode('utf-8')).get(text_field, '')
    return np.bytes_(value.encode('utf-8') if isinstance(value, str) else b'')
  def parse(line):
    t = tf.py_function(field, [line], tf.string)
    t.set_shape([])
    return t
  lines = _lines(path).filter(lambda l: tf.strings.length(tf.strings.strip(l)) > 0)
  return _text(lines.map(parse))


def _tfrecord(path, text_field):
  spec = {text_field: tf.io.FixedLenFeature([], tf.string, default_value='')}
  records = tf.data.TFRecordDataset(path, compression_type=_compression(path))
  return _text(records.map(lambda r: tf.io.parse_single_example(r, spec)[text_field]))


def reader(fmt: str, text_field: str = 'text'):
  """read_file_fn for seqio.FileDataSource: path tensor -> dataset of {'text'}."""
  if fmt == 'lines':
    return lambda path: _text(_lines(path))
  if fmt == 'blocks':
    return _blocks
  if fmt == 'wikiextractor':
    return _wikiextractor
  if fmt == 'jsonl':
    return lambda path: _jsonl(path, text_field)
  if fmt == 'tfrecord':
    return lambda path: _tfrecord(path, text_field)
  raise ValueError(f'unknown format {fmt!r}; one of {FORMATS}')
