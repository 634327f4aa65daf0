import os

import numpy as np
import pytest

from mlm_jax.data import builtin_corpus, pipeline, vocab
from mlm_jax.config_lib import ConfigError
from tests.conftest import tiny_config


def test_builtin_corpus_has_real_text_and_a_disjoint_validation_split(shared_vocab):
  with open(shared_vocab['train'], encoding='utf-8') as f:
    train = f.read().splitlines()
  with open(shared_vocab['validation'], encoding='utf-8') as f:
    valid = f.read().splitlines()
  assert len(train) > 1000 and len(valid) > 30
  assert sum(map(len, train)) > 1_000_000
  assert not set(train) & set(valid)
  assert all(len(d) >= builtin_corpus.MIN_CHARS for d in train[:200])
  assert any('the' in d.split() for d in valid)


def test_the_corpus_is_read_once_per_python_and_copied_into_workdirs(tmp_path, monkeypatch):
  from mlm_jax import fs  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(fs, 'cache_dir', lambda *parts: str(tmp_path.joinpath('cache', *parts)))
  reads = []

  def documents():
    reads.append(1)
    yield from [(f'doc{i}', f'text {i} ' * 40) for i in range(60)]

  monkeypatch.setattr(builtin_corpus, 'iter_documents', documents)
  first = builtin_corpus.write_corpus(str(tmp_path / 'run1' / 'corpus'))
  second = builtin_corpus.write_corpus(str(tmp_path / 'run2' / 'corpus'))
  assert len(reads) == 1 and first != second
  for split in ('train', 'validation'):
    with open(first[split]) as a, open(second[split]) as b:
      assert a.read() == b.read()
  with open(first['validation']) as f:
    assert len(f.read().splitlines()) == sum(builtin_corpus.is_validation(f'doc{i}')
                                             for i in range(60)) > 0
  monkeypatch.setattr(builtin_corpus.sys, 'version', 'another interpreter')
  builtin_corpus.write_corpus(str(tmp_path / 'run3' / 'corpus'))
  assert len(reads) == 2  # another Python reads its own standard library

  def broken():
    yield 'doc', 'text ' * 50
    raise OSError('disk full')

  monkeypatch.setattr(builtin_corpus, 'iter_documents', broken)
  monkeypatch.setattr(builtin_corpus.sys, 'version', 'a third interpreter')
  cached = {p.name for p in (tmp_path / 'cache' / 'corpus').iterdir()}
  with pytest.raises(OSError, match='disk full'):
    builtin_corpus.write_corpus(str(tmp_path / 'run4' / 'corpus'))
  new = [p for p in (tmp_path / 'cache' / 'corpus').iterdir() if p.name not in cached]
  assert len(new) == 1 and not list(new[0].iterdir())  # no half-written corpus, no temp file
  assert not (tmp_path / 'run4' / 'corpus').exists()


def test_vocab_special_ids(shared_vocab):
  sp = vocab.load_processor(shared_vocab['vocab_path'])
  t = vocab.special_tokens(sp)
  assert (t.pad, t.cls, t.sep, t.mask) == (0, 2, 3, 4) and t.vocab_size == 512
  starts = vocab.word_start_table(sp)
  assert starts[sp.piece_to_id('\u2581the')] and starts[t.cls]


def test_unreadable_vocab_is_named(tmp_path):
  bad = tmp_path / 'bad.model'
  bad.write_text('not a model')
  with pytest.raises(ConfigError, match='bad.model'):
    vocab.load_processor(str(bad))


def _source(shared_vocab, tmp_path, seq_len=32):
  cfg = tiny_config(**{'data.task': 'files', 'data.train_files': shared_vocab['train'],
                       'data.validation_files': shared_vocab['validation'],
                       'data.vocab_path': shared_vocab['vocab_path'], 'data.seq_len': seq_len})
  return pipeline.build_source(cfg.data, str(tmp_path))


def test_packed_rows_are_consistent(shared_vocab, tmp_path):
  src = _source(shared_vocab, tmp_path)
  ds = pipeline.make_dataset(src, 'train', 32, 8, train=True, seed=0)
  batch = next(pipeline.BatchIterator(ds))
  ids, seg, pos = batch['input_ids'], batch['segment_ids'], batch['positions']
  assert ids.shape == seg.shape == pos.shape == (8, 32) and ids.dtype == np.int32
  for r in range(8):
    for s in set(seg[r]) - {0}:
      idx = np.where(seg[r] == s)[0]
      assert np.all(np.diff(idx) == 1), 'a segment is contiguous'
      np.testing.assert_array_equal(pos[r, idx], np.arange(len(idx)))
      assert ids[r, idx[0]] == 2 and ids[r, idx[-1]] == 3, 'each chunk is [CLS] ... [SEP]'
    assert np.all(ids[r][seg[r] == 0] == 0)


def test_long_documents_are_split_not_dropped(shared_vocab, tmp_path):
  sp = vocab.load_processor(shared_vocab['vocab_path'])
  doc = ' '.join(['the quick brown fox jumps over the lazy dog'] * 40)
  path = tmp_path / 'one.txt'
  path.write_text(doc + '\n')
  cfg = tiny_config(**{'data.task': 'files', 'data.train_files': str(path),
                       'data.validation_files': str(path),
                       'data.vocab_path': shared_vocab['vocab_path']})
  src = pipeline.build_source(cfg.data, str(tmp_path))
  rows = list(pipeline.make_dataset(src, 'validation', 32, 4, train=False, seed=0)
              .as_numpy_iterator())
  ids = np.concatenate([b['input_ids'] for b in rows])
  body = ids[(ids != 0) & (ids != 2) & (ids != 3)]
  np.testing.assert_array_equal(body, sp.encode(doc))


def test_iterator_restores_exact_position(shared_vocab, tmp_path):
  src = _source(shared_vocab, tmp_path)
  make = lambda: pipeline.BatchIterator(  # noqa: E731
      pipeline.make_dataset(src, 'train', 32, 4, train=True, seed=3))
  a = make()
  for _ in range(3):
    next(a)
  a.save(str(tmp_path / 'it' / 'host_0'))
  expected = [next(a) for _ in range(2)]
  b = make()
  b.restore(str(tmp_path / 'it' / 'host_0'))
  for want in expected:
    got = next(b)
    for k in want:
      np.testing.assert_array_equal(got[k], want[k])


def test_validation_is_one_padded_pass(shared_vocab, tmp_path):
  src = _source(shared_vocab, tmp_path)
  batches = list(pipeline.make_dataset(src, 'validation', 32, 16, train=False, seed=0)
                 .as_numpy_iterator())
  assert all(b['input_ids'].shape == (16, 32) for b in batches)
  again = list(pipeline.make_dataset(src, 'validation', 32, 16, train=False, seed=1)
               .as_numpy_iterator())
  np.testing.assert_array_equal(batches[0]['input_ids'], again[0]['input_ids'])


def test_missing_corpus_file_is_named(tmp_path):
  cfg = tiny_config(**{'data.task': 'files', 'data.train_files': str(tmp_path / 'x.txt'),
                       'data.validation_files': str(tmp_path / 'x.txt')})
  with pytest.raises(ConfigError, match='x.txt'):
    pipeline.corpus_files(cfg.data, str(tmp_path))
  assert not os.path.exists(tmp_path / 'x.txt')
