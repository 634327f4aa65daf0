"""Vocabulary kinds, mixtures, prepared corpora, exact resume for every source kind, and the
one-line errors for bad data input."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from mlm_jax import main
from mlm_jax.config_lib import ConfigError
from mlm_jax.data.checks import parse_mixture
from mlm_jax.data import pipeline, prepare, vocab, vocab_builder
from tests.conftest import REPO, SHARED_DATA, tiny_config

SHAKESPEARE = os.path.join(SHARED_DATA, 'pretrain', 'tinyshakespeare', 'input.txt.gz')


@pytest.fixture(scope='module')
def small_corpus(tmp_path_factory):
  """300 Tiny Shakespeare speeches as lines, jsonl and tfrecord; 40 more as validation."""
  import gzip
  if not os.path.isfile(SHAKESPEARE):
    pytest.skip('needs ../shared/data')
  d = tmp_path_factory.mktemp('small')
  with gzip.open(SHAKESPEARE, 'rt', encoding='utf-8') as f:
    blocks = [' '.join(b.split()) for b in f.read().split('\n\n') if b.strip()]
  train, valid = blocks[:300], blocks[300:340]
  (d / 'train.txt').write_text('\n'.join(train) + '\n')
  (d / 'valid.txt').write_text('\n'.join(valid) + '\n')
  (d / 'train.jsonl').write_text(''.join(json.dumps({'text': t}) + '\n' for t in train))
  with tf.io.TFRecordWriter(str(d / 'train.tfrecord')) as w:
    for t in train:
      f = {'text': tf.train.Feature(bytes_list=tf.train.BytesList(value=[t.encode()]))}
      w.write(tf.train.Example(features=tf.train.Features(feature=f)).SerializeToString())
  return {'dir': d, 'train': train, 'valid': valid}


def _cfg(small_corpus, vocab_path, **overrides):
  d = small_corpus['dir']
  return tiny_config(**{'data.task': 'files', 'data.train_files': str(d / 'train.txt'),
                        'data.validation_files': str(d / 'valid.txt'),
                        'data.vocab_path': vocab_path, **overrides})


def test_wordpiece_vocab_has_bert_special_ids_and_trains(small_corpus, tmp_path):
  out = vocab_builder.train_wordpiece(iter(small_corpus['train']), str(tmp_path / 'wp'), 600)
  lines = (tmp_path / 'wp' / 'vocab.txt').read_text().split('\n')
  assert lines[:5] == ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
  for path in (out, str(tmp_path / 'wp' / 'vocab.txt')):  # the directory or the bare vocab.txt
    v = vocab.load(path)
    assert (v.tokens.pad, v.tokens.cls, v.tokens.sep, v.tokens.mask) == (0, 2, 3, 4)
    ids = v.seqio_vocab.encode('First Citizen: speak')
    assert ids and 1 not in ids and v.seqio_vocab.decode(ids) == 'first citizen : speak'
    assert v.word_start[v.seqio_vocab.encode('citizen')[0]]
  assert vocab.fingerprint(out) == vocab.fingerprint(out)  # stable: prepared corpora record it


def test_bpe_sentencepiece_and_byte_vocabularies(small_corpus, tmp_path):
  path = vocab_builder.train_sentencepiece(iter(small_corpus['train']),
                                           str(tmp_path / 'bpe.model'), 500, 'bpe')
  v = vocab.load(path)
  assert (v.tokens.pad, v.tokens.cls, v.tokens.sep, v.tokens.mask) == (0, 2, 3, 4)
  b = vocab.load('byte')
  assert b.tokens.vocab_size == 261 and b.tokens.mask == 4
  ids = b.seqio_vocab.encode_tf(tf.constant('Hé!')).numpy().tolist()
  assert ids == [x + 5 for x in 'Hé!'.encode()] and b.seqio_vocab.decode(ids) == 'Hé!'


def test_vocab_without_cls_is_refused(tmp_path):
  """[CLS] [SEP] [PAD] frame every row; [MASK] is optional (checked against the objective)."""
  bad = tmp_path / 'vocab.txt'
  bad.write_text('\n'.join(['[PAD]', '[UNK]', '[MASK]', '[SEP]', 'the', 'a']) + '\n')
  with pytest.raises(ConfigError, match=r'vocab\.txt.*\[CLS\]'):
    vocab.load(str(bad))


def test_tfds_dataset_by_name_and_data_dir_with_validation_carve_out(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  docs = [f'document {i} says {" ".join(["word"] * (i % 7 + 1))} here' for i in range(300)]
  tfds.dataset_builders.store_as_tfds_dataset(
      name='tiny_text_corpus', version='1.0.0', data_dir=str(tmp_path / 'tfds'),
      features=tfds.features.FeaturesDict({'body': tfds.features.Text()}),
      split_datasets={'train': tf.data.Dataset.from_tensor_slices({'body': docs})}, config=None)
  cfg = tiny_config(**{'data.task': 'tfds', 'data.tfds_name': 'tiny_text_corpus:1.0.0',
                       'data.tfds_data_dir': str(tmp_path / 'tfds'), 'data.text_field': 'body',
                       'data.holdout_every': 10, 'data.vocab_path': 'byte',
                       'model.vocab_size': 261}).data
  read = lambda split: [t.decode() for t in pipeline.documents(cfg, str(tmp_path), split).map(  # noqa: E731
      lambda ex: ex['text']).as_numpy_iterator()]
  train, valid = read('train'), read('validation')
  assert sorted(train + valid) == sorted(docs) and not set(train) & set(valid)
  assert 10 < len(valid) < 60  # no validation split: 1 in 10 held out by text hash
  src = pipeline.build_source(cfg, str(tmp_path))
  batch = next(pipeline.BatchIterator(pipeline.make_dataset(src, 'train', 32, 4, train=True,
                                                             seed=0)))
  assert batch['input_ids'].shape == (4, 32) and (batch['segment_ids'] != 0).mean() > 0.9


def test_malformed_json_lines_are_named(small_corpus, shared_vocab, tmp_path):
  cfg = _cfg(small_corpus, shared_vocab['vocab_path'], **{'data.format': 'jsonl'})
  with pytest.raises(ConfigError, match=r'train.txt: not readable as format jsonl'):
    pipeline.build_source(cfg.data, str(tmp_path))


def test_negative_mixture_rate_is_refused():
  assert parse_mixture('lines:/a.txt@0.8; jsonl:/b/*.jsonl|/c.jsonl@0.2') == [
      ('lines', '/a.txt', 0.8), ('jsonl', '/b/*.jsonl|/c.jsonl', 0.2)]
  with pytest.raises(ConfigError, match='data.mixture: component 1 rate -0.2 is negative'):
    parse_mixture('lines:/a.txt@1; lines:/b.txt@-0.2')


def test_mixture_samples_components_at_their_rates(tmp_path):
  (tmp_path / 'a.txt').write_text(''.join(f'aaaa aaa aa {i}\n' for i in range(400)))
  (tmp_path / 'z.txt').write_text(''.join(f'zzzz zzz zz {i}\n' for i in range(400)))
  cfg = tiny_config(**{'data.task': 'mixture', 'data.vocab_path': 'byte', 'model.vocab_size': 512,
                       'data.mixture': f'lines:{tmp_path}/a.txt@0.8; lines:{tmp_path}/z.txt@0.2',
                       'data.holdout_every': 10, 'data.packing': 'pad'})
  src = pipeline.build_source(cfg.data, str(tmp_path))
  batch = next(pipeline.BatchIterator(pipeline.make_dataset(src, 'train', 32, 500, train=True,
                                                             seed=0)))
  from_a = (batch['input_ids'] == ord('a') + 5).any(1).mean()
  assert 0.72 < from_a < 0.88, from_a


def _first_batches(src, tmp_path, n_before=3, n_after=2):
  make = lambda: pipeline.BatchIterator(  # noqa: E731
      pipeline.make_dataset(src, 'train', 32, 4, train=True, seed=5))
  a = make()
  for _ in range(n_before):
    next(a)
  prefix = str(tmp_path / 'iter' / 'host_0')
  a.save(prefix)
  want = [next(a) for _ in range(n_after)]
  b = make()
  b.restore(prefix)
  return want, [next(b) for _ in range(n_after)]


@pytest.mark.parametrize('kind', ['lines', 'jsonl', 'tfrecord', 'lines_carved', 'mixture',
                                  'prepared'])
def test_resume_is_exact_for_every_source_kind(small_corpus, shared_vocab, tmp_path, kind):
  d, v = small_corpus['dir'], shared_vocab['vocab_path']
  cfg = {
      'lines': lambda: _cfg(small_corpus, v),
      'jsonl': lambda: _cfg(small_corpus, v, **{'data.format': 'jsonl',
                                                'data.train_files': str(d / 'train.jsonl'),
                                                'data.validation_files': ''}),
      'tfrecord': lambda: _cfg(small_corpus, v, **{'data.format': 'tfrecord',
                                                   'data.train_files': str(d / 'train.tfrecord'),
                                                   'data.validation_files': ''}),
      'lines_carved': lambda: _cfg(small_corpus, v, **{'data.format': 'lines',
                                                        'data.validation_files': '',
                                                        'data.holdout_every': 10}),
      'mixture': lambda: _cfg(small_corpus, v, **{
          'data.task': 'mixture', 'data.holdout_every': 10,
          'data.mixture': f'lines:{d}/train.txt@0.7; jsonl:{d}/train.jsonl@0.3'}),
      'prepared': lambda: _prepared_cfg(small_corpus, v, tmp_path),
  }[kind]()
  src = pipeline.build_source(cfg.data, str(tmp_path))
  want, got = _first_batches(src, tmp_path)
  for w, g in zip(want, got):
    for k in w:
      np.testing.assert_array_equal(g[k], w[k])


def _prepared_cfg(small_corpus, vocab_path, tmp_path):
  out = str(tmp_path / 'prepared')
  prepare.prepare(_cfg(small_corpus, vocab_path).data, str(tmp_path), out, num_shards=3)
  return _cfg(small_corpus, vocab_path, **{'data.task': 'prepared', 'data.prepared_dir': out})


def test_prepared_corpus_equals_the_live_pipeline_and_checks_its_manifest(
    small_corpus, shared_vocab, tmp_path):
  live_cfg = _cfg(small_corpus, shared_vocab['vocab_path'])
  cfg = _prepared_cfg(small_corpus, shared_vocab['vocab_path'], tmp_path)
  manifest = json.loads((tmp_path / 'prepared' / 'manifest.json').read_text())
  assert manifest['splits']['train']['documents'] == len(small_corpus['train'])
  assert manifest['splits']['validation']['documents'] == len(small_corpus['valid'])
  assert len(manifest['splits']['train']['files']) == 3 and manifest['seq_len'] == 32
  live = list(pipeline.unbatched_rows(pipeline.build_source(live_cfg.data, str(tmp_path)),
                                      'train', 32))
  src = pipeline.build_source(cfg.data, str(tmp_path))
  stored = list(pipeline.unbatched_rows(src, 'train', 32))
  key = lambda r: tuple(r['input_ids'])  # noqa: E731  (round-robin shards: order differs)
  assert sorted(map(key, live)) == sorted(map(key, stored))
  assert manifest['splits']['train']['rows'] == len(live)
  with pytest.raises(ConfigError, match='data.seq_len=64'):
    c = _cfg(small_corpus, shared_vocab['vocab_path'], **{
        'data.task': 'prepared', 'data.prepared_dir': str(tmp_path / 'prepared'),
        'data.seq_len': 64})
    pipeline.build_source(c.data, str(tmp_path))
  with pytest.raises(ConfigError, match='sha256 differs'):
    c = _cfg(small_corpus, 'byte', **{'data.task': 'prepared',
                                      'data.prepared_dir': str(tmp_path / 'prepared')})
    pipeline.build_source(c.data, str(tmp_path))


def _cli(capsys, tmp_path, *overrides):
  """The command line in-process (main.cli: same parser, checks and error path; the real
  subprocess is tested in test_cli.py): (exit code, stderr)."""
  with pytest.raises(SystemExit) as exit_info:
    main.cli([f'--config={REPO}/configs/smoke.py', f'--workdir={tmp_path / "w"}', *overrides])
  return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize('case', ['missing', 'empty', 'unreadable_vocab', 'no_mask', 'tfds',
                                  'negative_rate'])
def test_bad_data_input_is_one_line(capsys, tmp_path, case):
  (tmp_path / 'empty.txt').write_text('')
  (tmp_path / 'c.txt').write_text('some words here\nand more words there\n')
  (tmp_path / 'bad.model').write_text('garbage')
  (tmp_path / 'vocab.txt').write_text('[PAD]\n[UNK]\n[CLS]\n[SEP]\nsome\nwords\n')
  files = ['--config.data.task=files', f'--config.data.train_files={tmp_path}/c.txt']
  args, named = {
      'missing': (['--config.data.task=files', f'--config.data.train_files={tmp_path}/no.txt'],
                  'no.txt'),
      'empty': (['--config.data.task=files', f'--config.data.train_files={tmp_path}/empty.txt'],
                'empty.txt'),
      'unreadable_vocab': (files + [f'--config.data.vocab_path={tmp_path}/bad.model'],
                           'bad.model'),
      'no_mask': (files + [f'--config.data.vocab_path={tmp_path}/vocab.txt'], '[MASK]'),
      'tfds': (['--config.data.task=tfds', '--config.data.tfds_name=no_such_dataset_xyz:1.0.0',
                f'--config.data.tfds_data_dir={tmp_path}'], 'no_such_dataset_xyz'),
      'negative_rate': (['--config.data.task=mixture',
                         f'--config.data.mixture=lines:{tmp_path}/c.txt@-1'], 'data.mixture'),
  }[case]
  code, err = _cli(capsys, tmp_path, *args)
  assert code != 0
  lines = [line for line in err.strip().splitlines() if line.startswith('error')]
  assert len(lines) == 1 and named in lines[0], err[-2000:]
  assert 'Traceback' not in err


def test_a_vocabulary_without_mask_trains_objectives_that_never_mask(tmp_path):
  """GPT-style vocabulary (no [MASK]): causal LM trains; MLM is refused in one line (above)."""
  (tmp_path / 'c.txt').write_text('some words here\nand more words there\n' * 20)
  (tmp_path / 'vocab.txt').write_text('[PAD]\n[UNK]\n[CLS]\n[SEP]\nsome\nwords\nhere\nand\n')
  loaded = vocab.load(str(tmp_path / 'vocab.txt'))
  assert not loaded.tokens.has_mask and loaded.tokens.mask not in loaded.tokens.special
  main.cli([f'--config={REPO}/configs/smoke.py', f'--workdir={tmp_path / "w"}',
            '--config.data.task=files',
            f'--config.data.train_files={tmp_path}/c.txt',
            f'--config.data.validation_files={tmp_path}/c.txt',
            f'--config.data.vocab_path={tmp_path}/vocab.txt', '--config.objective.name=clm',
            '--config.model.attention_pattern=causal', '--config.train.steps=2'])
  assert (tmp_path / 'w' / 'metrics.jsonl').exists()
