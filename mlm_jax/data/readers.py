"""Document readers: one file -> a tf.data stream of {'text': document}, pure TensorFlow (so
the iterator position checkpoints), for every on-disk format the trainer accepts.

lines          one document per line (WikiText, the built-in corpus, most dumps)
blocks         documents separated by blank lines (Tiny Shakespeare speeches, books)
wikiextractor  <doc id=.. title=..> / title line / paragraphs / </doc> (BERT's Wikipedia path);
               the title line is dropped and paragraphs are joined with a space
jsonl          one JSON object per line; the text is in `text_field`
tfrecord       tf.train.Example records with a bytes feature `text_field`
Files ending in .gz are read as gzip. jsonl and tfrecord can carry metadata fields (a date, a
domain or URL) beside the text as 'meta_<field>' strings, for the document filters
(data/filters.py); a missing field reads as ''.
"""
import json

import numpy as np
import tensorflow as tf

FORMATS = ('lines', 'blocks', 'wikiextractor', 'jsonl', 'tfrecord')
FIELD_FORMATS = ('jsonl', 'tfrecord')  # formats whose documents carry metadata fields


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


def _as_bytes(value, text: bool) -> bytes:
  """A JSON value as bytes: the text must be a string; metadata may be a number too."""
  if isinstance(value, str):
    return value.encode('utf-8')
  if not text and isinstance(value, (int, float)) and not isinstance(value, bool):
    return str(value).encode('utf-8')
  return b''


def _jsonl(path, text_field, meta_fields=()):
  keys = (text_field,) + tuple(meta_fields)
  def fields(line):
    obj = json.loads(line.numpy().decode('utf-8'))
    return [np.bytes_(_as_bytes(obj.get(k, ''), i == 0)) for i, k in enumerate(keys)]
  def parse(line):
    values = tf.py_function(fields, [line], [tf.string] * len(keys))
    for v in values:
      v.set_shape([])
    return {'text': values[0], **{'meta_' + k: v for k, v in zip(meta_fields, values[1:])}}
  lines = _lines(path).filter(lambda l: tf.strings.length(tf.strings.strip(l)) > 0)
  return lines.map(parse)


def _tfrecord(path, text_field, meta_fields=()):
  spec = {k: tf.io.FixedLenFeature([], tf.string, default_value='')
          for k in (text_field,) + tuple(meta_fields)}
  def parse(record):
    ex = tf.io.parse_single_example(record, spec)
    return {'text': ex[text_field], **{'meta_' + k: ex[k] for k in meta_fields}}
  return tf.data.TFRecordDataset(path, compression_type=_compression(path)).map(parse)


def reader(fmt: str, text_field: str = 'text', meta_fields: tuple[str, ...] = ()):
  """read_file_fn for seqio.FileDataSource: path tensor -> dataset of {'text'} (plus
  'meta_<field>' for META_FIELDS: jsonl and tfrecord only)."""
  if meta_fields and fmt not in FIELD_FORMATS:
    raise ValueError(f'format {fmt} carries no metadata fields')
  if fmt == 'lines':
    return lambda path: _text(_lines(path))
  if fmt == 'blocks':
    return _blocks
  if fmt == 'wikiextractor':
    return _wikiextractor
  if fmt == 'jsonl':
    return lambda path: _jsonl(path, text_field, meta_fields)
  if fmt == 'tfrecord':
    return lambda path: _tfrecord(path, text_field, meta_fields)
  raise ValueError(f'unknown format {fmt!r}; one of {FORMATS}')
