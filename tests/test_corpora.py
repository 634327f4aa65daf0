"""The data pipeline on the real corpora in ../shared/data/pretrain: every document and token
accounted for (against independent plain-Python counts), stubs skipped, packing efficiency,
host shards disjoint and complete, validation carve-out, other on-disk formats."""
import gzip
import json
import os
import re

import numpy as np
import pytest
import seqio
import tensorflow as tf

from mlm_jax.data import pipeline, tasks, vocab
from tests.conftest import SHARED_DATA, tiny_config

PRETRAIN = os.path.join(SHARED_DATA, 'pretrain')
WIKI = os.path.join(PRETRAIN, 'enwiki_mlm_pipeline', '*_wiki_00.gz')
WIKI_SHARDS = [os.path.join(PRETRAIN, 'enwiki_wikitasks', f'wiki_{i:02d}.gz') for i in range(4)]
WIKITEXT = os.path.join(PRETRAIN, 'wikitext-2', 'wiki.valid.tokens.gz')
SHAKESPEARE = os.path.join(PRETRAIN, 'tinyshakespeare', 'input.txt.gz')
pytestmark = pytest.mark.skipif(not os.path.isdir(PRETRAIN), reason='needs ../shared/data')


def _read(path):
  with gzip.open(path, 'rt', encoding='utf-8') as f:
    return f.read()


def _python_wiki_docs(paths, min_words):
  """Independent reading of WikiExtractor output: regex over whole files."""
  docs, stubs = [], 0
  for path in paths:
    for body in re.findall(r'<doc [^>]*>\n(.*?)</doc>', _read(path), flags=re.S):
      paragraphs = [p for p in body.split('\n')[1:] if p.strip()]  # first line: the title
      text = ' '.join(paragraphs)
      if len(text.split()) >= max(min_words, 1):
        docs.append(text)
      else:
        stubs += 1
  return docs, stubs


def _head_pages(path, pages, out_dir):
  """OUT_DIR/NAME: the first PAGES <doc> elements of the WikiExtractor file PATH, gzipped."""
  text = _read(path)
  end = [m.end() for m in re.finditer('</doc>\n', text)][pages - 1]
  out = os.path.join(out_dir, os.path.basename(path))
  with gzip.open(out, 'wt', encoding='utf-8') as f:
    f.write(text[:end])
  return out


def _python_blocks(path):
  docs, block = [], []
  for line in _read(path).split('\n') + ['']:
    if line.strip():
      block.append(line)
    elif block:
      docs.append(' '.join(block))
      block = []
  return docs


def _python_lines(path):
  return [line for line in _read(path).split('\n') if line.strip()]


def _config(shared_vocab, fmt, files, **overrides):
  return tiny_config(**{'data.task': 'files', 'data.format': fmt, 'data.train_files': files,
                        'data.validation_files': files, 'data.seq_len': 128,
                        'model.max_positions': 128,
                        'data.vocab_path': shared_vocab['vocab_path'], **overrides}).data


def _pipeline_docs(data_cfg, tmp_path, split='train'):
  return [t.decode('utf-8') for t in pipeline.documents(data_cfg, str(tmp_path), split).map(
      lambda ex: ex['text']).as_numpy_iterator()]


def _rows(data_cfg, tmp_path, split='train'):
  src = pipeline.build_source(data_cfg, str(tmp_path))
  rows = list(pipeline.unbatched_rows(src, split, data_cfg.seq_len))
  return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


@pytest.mark.parametrize('fmt,files,python_docs', [
    ('wikiextractor', WIKI, lambda: _python_wiki_docs(sorted(
        __import__('glob').glob(WIKI)), 20)[0]),
    ('lines', WIKITEXT, lambda: _python_lines(WIKITEXT)),
    ('blocks', SHAKESPEARE, lambda: _python_blocks(SHAKESPEARE)),
])
def test_every_document_and_token_is_packed(shared_vocab, tmp_path, fmt, files, python_docs):
  cfg = _config(shared_vocab, fmt, files, **{'data.min_doc_words': 20 if fmt == 'wikiextractor'
                                             else 0})
  expected = python_docs()
  got = _pipeline_docs(cfg, tmp_path)
  assert sorted(got) == sorted(expected)  # cycle-interleaved files: order may differ
  rows = _rows(cfg, tmp_path)
  ids, seg, pos = rows['input_ids'], rows['segment_ids'], rows['positions']
  sp = vocab.load_processor(shared_vocab['vocab_path'])
  want_tokens = sum(len(sp.encode(d)) for d in expected)
  real = seg != 0
  segments = int(((pos == 0) & real).sum())
  assert int(real.sum()) - 2 * segments == want_tokens
  assert (ids[real & (pos == 0)] == 2).all()  # every segment opens with [CLS]
  efficiency = real.mean()
  assert efficiency > 0.95, efficiency


def test_wikiextractor_stubs_are_skipped(shared_vocab, tmp_path):
  docs, stubs = _python_wiki_docs(WIKI_SHARDS, 20)
  cfg = _config(shared_vocab, 'wikiextractor', ','.join(WIKI_SHARDS),
                **{'data.min_doc_words': 20})
  got = _pipeline_docs(cfg, tmp_path)
  assert len(got) == len(docs) and stubs > len(docs) / 2  # most of this dump's pages are stubs
  assert min(len(d.split()) for d in got) >= 20


@pytest.mark.slow
@pytest.mark.parametrize('hosts,by', [(4, 'file'), (2, 'document')])
def test_host_shards_are_disjoint_and_complete(shared_vocab, tmp_path, hosts, by):
  """With at least as many files as hosts each host reads whole files, else every host reads
  all files and keeps every hosts-th document (seqio's rule); both as the trainer calls it."""
  # The first 300 pages of each real shard (a fifth of it): the sharding rules, not the size.
  files = [_head_pages(p, 300, tmp_path) for p in WIKI_SHARDS[:hosts if by == 'file' else 1]]
  cfg = _config(shared_vocab, 'wikiextractor', ','.join(files),
                **{'data.min_doc_words': 1, 'data.vocab_path': 'byte'})
  src = pipeline.build_source(cfg, str(tmp_path))
  shards = []
  for i in range(hosts):
    ds = (src.task.source.get_dataset('train', shuffle=False, shard_info=seqio.ShardInfo(i, hosts))
          if by == 'file' else src.task.source.get_dataset('train', shuffle=False).shard(hosts, i))
    shards.append([t.decode() for t in tasks.keep_document(1)(ds).map(
        lambda ex: ex['text']).as_numpy_iterator()])
  assert all(shards), 'every host gets documents'
  assert sorted(d for s in shards for d in s) == sorted(_pipeline_docs(cfg, tmp_path))
  # Through the whole task (tokenize + pack) with shard_info, as make_dataset reads it: the
  # hosts' bytes add up to the corpus's (bytes: tokenizing is free, so the check is cheap).
  def body_bytes(shard_info):
    rows = src.task.get_dataset({'targets': 128}, split='train', shuffle=False, num_epochs=1,
                                use_cached=False, shard_info=shard_info).as_numpy_iterator()
    return np.sort(np.concatenate([r['targets'][r['targets'] >= 5] for r in rows]))
  parts = np.sort(np.concatenate([body_bytes(seqio.ShardInfo(i, hosts)) for i in range(hosts)]))
  np.testing.assert_array_equal(parts, body_bytes(None))


def test_validation_carve_out_is_disjoint_and_complete(shared_vocab, tmp_path):
  cfg = _config(shared_vocab, 'blocks', SHAKESPEARE, **{'data.validation_files': '',
                                                        'data.holdout_every': 20})
  train, valid = _pipeline_docs(cfg, tmp_path, 'train'), _pipeline_docs(cfg, tmp_path,
                                                                         'validation')
  everything = _python_blocks(SHAKESPEARE)
  assert sorted(train + valid) == sorted(everything)
  assert not set(train) & set(valid)
  assert 0.02 < len(valid) / len(everything) < 0.08


def _write_other_formats(tmp_path, docs):
  jsonl = tmp_path / 'docs.jsonl'
  jsonl.write_text(''.join(json.dumps({'id': i, 'body': d}) + '\n' for i, d in enumerate(docs)))
  record = str(tmp_path / 'docs.tfrecord')
  with tf.io.TFRecordWriter(record) as w:
    for d in docs:
      feature = {'body': tf.train.Feature(bytes_list=tf.train.BytesList(value=[d.encode()]))}
      w.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
  return str(jsonl), record


def test_jsonl_and_tfrecord_read_the_same_documents(shared_vocab, tmp_path):
  docs = _python_blocks(SHAKESPEARE)[:500]
  jsonl, record = _write_other_formats(tmp_path, docs)
  for fmt, path in (('jsonl', jsonl), ('tfrecord', record)):
    cfg = _config(shared_vocab, fmt, path, **{'data.text_field': 'body'})
    assert _pipeline_docs(cfg, tmp_path) == docs, fmt
