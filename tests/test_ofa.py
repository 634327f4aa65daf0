"""mlm_jax/ofa.py and tools/ofa_init.py: the factorisation, the plan for each target row on
hand-built vocabularies, new rows as the stated combination of old ones, a new workdir that
trains 20 steps on 8 fake devices, one-line errors."""
import json
import os

import numpy as np
import pytest

from mlm_jax import checkpointing, config_lib, ofa, train
from mlm_jax.config_lib import ConfigError
from mlm_jax.data import vocab
from tests.conftest import corpus_config, fake_run, read_records
from tools import ofa_init


def test_factorization_is_the_best_low_rank_approximation():
  table = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
  p, c = ofa.factorize(table, 8)
  np.testing.assert_allclose(p @ c, table, atol=1e-5)  # full rank: exact
  p3, c3 = ofa.factorize(table, 3)
  u, s, vt = np.linalg.svd(table, full_matrices=False)
  np.testing.assert_allclose(p3 @ c3, (u[:, :3] * s[:3]) @ vt[:3], atol=1e-5)


SOURCE = ['[PAD]', '[CLS]', '[SEP]', '[MASK]', 'the', 'cat', '##s', 'dog']
TARGET = ['[PAD]', '[MASK]', '[CLS]', '[SEP]', 'cat', 'cats', '##s', 'qq', 'the']


def _encode_source(text):
  return {'cats': [5, 6], 's': [6], 'qq': []}[text]


def test_each_target_row_is_planned_from_the_old_vocabulary():
  specials = {0: 0, 1: 3, 2: 1, 3: 2}  # target id -> source id, by role
  rows = ofa.target_rows(SOURCE, TARGET, _encode_source, specials)
  assert rows == [('special', [0]), ('special', [3]), ('special', [1]), ('special', [2]),
                  ('copy', [5]), ('mean', [5, 6]), ('copy', [6]), ('random', []), ('copy', [4])]
  assert ofa.summary(rows) == {'copy': 3, 'special': 4, 'mean': 1, 'random': 1}
  assert ofa.surface('##ing') == 'ing' and ofa.surface('\u2581the') == 'the'


def test_new_rows_are_the_stated_combination_of_old_ones():
  table = np.random.default_rng(1).normal(size=(8, 6)).astype(np.float32)
  rows = ofa.target_rows(SOURCE, TARGET, _encode_source, {0: 0, 1: 3, 2: 1, 3: 2})
  p, c = ofa.factorize(table, 4)
  new = ofa.initialize(table, rows, 4, seed=0)
  np.testing.assert_allclose(new[4], p[5] @ c, atol=1e-5)  # copied 'cat'
  np.testing.assert_allclose(new[5], (p[5] + p[6]) / 2 @ c, atol=1e-5)  # 'cats' = cat + ##s
  np.testing.assert_allclose(new[1], p[3] @ c, atol=1e-5)  # [MASK] by role
  full = ofa.initialize(table, rows, 6)  # rank = width: copies are the old rows themselves
  np.testing.assert_allclose(full[8], table[4], atol=1e-5)


def _source_and_new_vocab(tmp_path, shared_vocab):
  source = str(tmp_path / 'source')
  fake_run(source, corpus_config(shared_vocab), seed=0)
  new_vocab = vocab.train_sentencepiece(shared_vocab['train'], str(tmp_path / 'spm_400.model'),
                                        400)
  return source, new_vocab


@pytest.mark.slow  # a whole run: the full suite has it, the fast lane its units
def test_the_new_workdir_trains_twenty_steps_on_eight_devices(tmp_path, shared_vocab):
  source, new_vocab = _source_and_new_vocab(tmp_path, shared_vocab)
  out = str(tmp_path / 'ofa')
  record = ofa_init.build(source, new_vocab, 64, out)
  rows = record['rows']
  assert sum(rows.values()) == 400 and rows['special'] == 4 and rows['copy'] > 100
  config = config_lib.load_run_config(out)
  assert config.model.vocab_size == 400 and config.data.vocab_path == new_vocab
  params, step = checkpointing.restore_params(config, out)
  assert step == 0 and params['embeddings']['word_embeddings']['embedding'].shape == (400, 64)
  # a copied row is the source row itself (rank = width)
  src_params, _ = checkpointing.restore_params(config_lib.load_run_config(source), source)
  src_pieces = ofa_init.pieces(vocab.load(shared_vocab['vocab_path']))
  new_pieces = ofa_init.pieces(vocab.load(new_vocab))
  t = next(i for i, p in enumerate(new_pieces) if p in src_pieces and i > 10)
  np.testing.assert_allclose(params['embeddings']['word_embeddings']['embedding'][t],
                             src_params['embeddings']['word_embeddings']['embedding'][
                                 src_pieces.index(new_pieces[t])], atol=1e-4)
  assert json.loads(open(os.path.join(out, 'ofa.json')).read())['rank'] == 64
  c = corpus_config(shared_vocab, **{'data.vocab_path': new_vocab, 'model.vocab_size': 400,
                                     'train.steps': 20, 'train.log_every_steps': 5,
                                     'mesh.data': 8})
  train.run(c, out)  # continues from the step-0 checkpoint
  losses = [r['loss'] for r in read_records(out, 'train')]
  assert losses[-1] < losses[0], losses


def test_bad_input_is_one_line_errors(tmp_path, shared_vocab):
  source, new_vocab = _source_and_new_vocab(tmp_path, shared_vocab)
  for args, match in (((source, new_vocab, 0), '--rank=0 must be in'),
                      ((source, 'byte', 8), 'byte vocabulary has none'),
                      ((source, '/no/vocab', 8), '--vocab=/no/vocab: no such file')):
    with pytest.raises(ConfigError, match=match) as e:
      ofa_init.build(*args, str(tmp_path / 'o'))
    assert '\n' not in str(e.value)
  ofa_init.build(source, new_vocab, 8, str(tmp_path / 'done'))
  with pytest.raises(ConfigError, match='already has checkpoints'):
    ofa_init.build(source, new_vocab, 8, str(tmp_path / 'done'))
