"""tools/tokenization_study.py: the same model under two vocabularies (a SentencePiece model and
bytes), pre-trained and fine-tuned through the GLUE harness, both scores and fertilities in
one table; bad options in one line."""
import os

import pytest

from mlm_jax.config_lib import ConfigError
from tests.conftest import SHARED_DATA
from tools import tokenization_study


def test_two_vocabularies_differ_only_in_the_vocabulary(shared_vocab):
  a = tokenization_study.run_config('configs/smoke.py', shared_vocab['vocab_path'], '', 7)
  b = tokenization_study.run_config('configs/smoke.py', 'byte', '', 7)
  assert (a.model.vocab_size, b.model.vocab_size) == (512, 261)
  assert a.train.steps == b.train.steps == 7
  for section in ('train', 'objective'):
    assert a[section].to_dict() == b[section].to_dict()
  da, db = a.data.to_dict(), b.data.to_dict()
  assert {k for k in da if da[k] != db[k]} == {'vocab_path'}


def test_bad_options_are_one_line_errors(tmp_path, shared_vocab):
  vocabs = {'a': shared_vocab['vocab_path'], 'b': 'byte'}
  with pytest.raises(ConfigError, match='--tasks: qqp'):
    tokenization_study.study(str(tmp_path), 'configs/smoke.py', vocabs, '', str(tmp_path), 2,
                             ('qqp',), 1, 1e-3, 32, True)
  with pytest.raises(ConfigError, match='--glue_dir'):
    tokenization_study.study(str(tmp_path), 'configs/smoke.py', vocabs, '', '/no/such', 2,
                             ('sst2',), 1, 1e-3, 32, True)


@pytest.mark.slow
def test_the_study_prints_both_scores(tmp_path, shared_vocab):
  vocabs = {'a': shared_vocab['vocab_path'], 'b': 'byte'}
  md = tokenization_study.study(str(tmp_path), 'configs/smoke.py', vocabs, '',
                                os.path.join(SHARED_DATA, 'glue'), 4, ('sst2',), 1, 1e-3, 32,
                                True)  # one fine-tuning seed: the seed loop is the shoot-out's
  rows = [line for line in md.splitlines() if line.startswith(('| a |', '| b |'))]
  assert len(rows) == 2 and '| byte | 261 |' in rows[1]
  fertility = [float(r.split('|')[4]) for r in rows]
  assert fertility[1] > fertility[0] > 0  # bytes: more tokens per word
  assert 'sst2: median a - b = ' in md
  assert os.path.isfile(tmp_path / 'b' / 'finetune' / 'sst2' / 'lr_0.001' / 'seed_0' /
                        'finetune_result.json')
