"""SQuAD: reader on the real dev file, official normalisation and EM/F1 by hand, windows and
span decoding on hand-made examples, v2.0 threshold search."""
import json
import os

import numpy as np
import pytest

from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import squad
from tests.conftest import SHARED_DATA

DEV = os.path.join(SHARED_DATA, 'squad', 'dev-v1.1.json.gz')


@pytest.fixture(scope='module')
def dev():
  return squad.read(DEV)


def test_dev_count_and_gold_answers_are_exact(dev):
  assert len(dev) == 10570 and len({e.qid for e in dev}) == 10570
  # Every first answer's word span covers its text (normalised), and a gold answer scores 100.
  for ex in dev[:2000]:
    span = ' '.join(ex.words[ex.start_word:ex.end_word + 1])
    assert squad.normalize_answer(ex.answers[0]) in squad.normalize_answer(span)
  preds = {ex.qid: ex.answers[0] for ex in dev}
  assert squad.evaluate(dev, preds) == {'exact_match': 100.0, 'f1': 100.0}


@pytest.mark.parametrize('raw,norm', [
    ('The Eiffel Tower', 'eiffel tower'), ('  an   apple, a pear. ', 'apple pear'),
    ('Theatre', 'theatre'), ("Denver Broncos'", 'denver broncos'), ('A', ''),
    ('the-the', 'thethe'), ('1,000', '1000'), ('U.S.A.', 'usa'), ('Ça  va\n', 'ça va')])
def test_official_normalisation(raw, norm):
  assert squad.normalize_answer(raw) == norm


def test_exact_and_f1_by_hand():
  assert squad.exact('The Broncos', 'broncos') == 1
  # gold: denver broncos (2 tokens); pred: broncos won (2): 1 common -> P = R = 1/2 -> F1 1/2
  assert squad.f1('Denver Broncos', 'the Broncos won') == pytest.approx(0.5)
  # repeated tokens count with multiplicity: gold a b b (3), pred b b b c (4): common 2
  assert squad.f1('x y y', 'y y y z') == pytest.approx(2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))
  assert squad.f1('', '') == 1.0 and squad.f1('', 'x') == 0.0 and squad.f1('x', '') == 0.0
  assert squad.f1('a an the', 'the') == 1.0  # both normalise to nothing


def test_max_over_gold_answers(tmp_path):
  ex = squad.Example('q', '?', ['w'], ['Santa Clara', 'Santa Clara, California'], 0, 0)
  em, f = squad.score([ex], {'q': 'Santa Clara California'})
  assert em['q'] == 1 and f['q'] == 1.0


def _toy_encode(text):  # one token per character of each whitespace word (ids 10+)
  return [10 + ord(c) % 50 for c in text.replace(' ', '')]


def _example():
  words = 'Paris is the capital of France and its largest city'.split()
  return squad.Example('q1', 'capital?', words, ['France'], 5, 5)


def test_windows_with_stride_and_max_context():
  ex = _example()
  feats = squad.make_features([ex], _toy_encode, cls=2, sep=3, max_seq_len=24, doc_stride=6,
                              max_query_len=8)
  assert len(feats) > 2
  for f in feats:
    assert f.input_ids[0] == 2 and len(f.input_ids) <= 24
    assert f.token_types[:10] == [0] * 10 and f.token_types[-1] == 1
  # Every context token is the max context of exactly one window.
  owners = {}
  for fi, f in enumerate(feats):
    for pos, is_max in f.max_context.items():
      if is_max:
        owners.setdefault(f.token_to_word[pos], []).append(fi)
  assert set(owners) == set(range(len(ex.words)))
  with_answer = [f for f in feats if f.start]
  assert with_answer and all(f.token_to_word[f.start] == 5 == f.token_to_word[f.end]
                             for f in with_answer)
  assert any(f.start == 0 == f.end for f in feats)  # windows without the answer point at [CLS]


def test_decode_picks_best_valid_span_and_writes_predictions(tmp_path):
  ex = _example()
  feats = squad.make_features([ex], _toy_encode, cls=2, sep=3, max_seq_len=64, doc_stride=32,
                              max_query_len=16)
  (f,) = feats
  start, end = np.full(64, -5.0), np.full(64, -5.0)
  pos = {w: p for p, w in f.token_to_word.items()}  # word -> last token position
  first = {w: min(p for p, ww in f.token_to_word.items() if ww == w) for w in pos}
  start[first[3]], end[pos[5]] = 4.0, 3.0  # 'capital of France': 3 words
  start[1], end[0] = 9.0, 9.0  # question tokens / before-start: invalid
  start[0] = 1.0
  answers, diffs = squad.decode([ex], feats, [start], [end], n_best=5, max_answer_len=64)
  assert answers == {'q1': 'capital of France'}
  assert diffs['q1'] == pytest.approx((1.0 + 9.0) - 7.0)
  # Too long for max_answer_len: the next best span wins.
  start[first[5]] = 3.5
  answers, _ = squad.decode([ex], feats, [start], [end], n_best=5, max_answer_len=6)  # tokens: France is 6
  assert answers == {'q1': 'France'}
  path = tmp_path / 'predictions.json'
  squad.write_predictions(str(path), answers, diffs)
  assert json.loads(path.read_text()) == {'q1': 'France'}
  assert json.loads((tmp_path / 'null_odds.json').read_text()) == {'q1': diffs['q1']}


def test_v2_threshold_search():
  exs = [squad.Example('a', '?', ['x'], ['yes'], 0, 0), squad.Example('b', '?', ['x'], [], -1, -1),
         squad.Example('c', '?', ['x'], ['no'], 0, 0)]
  answers = {'a': 'yes', 'b': 'maybe', 'c': 'wrong'}
  diffs = {'a': -2.0, 'b': 1.0, 'c': 3.0}
  thresh, out = squad.best_threshold(exs, answers, diffs)
  # Answer a (diff -2) only: a right, b right (''), c wrong -> 2/3
  assert thresh == -2.0 and out['exact_match'] == pytest.approx(200 / 3)
  assert squad.apply_threshold(answers, diffs, thresh) == {'a': 'yes', 'b': '', 'c': ''}


def test_bad_file_is_one_line(tmp_path):
  bad = tmp_path / 'x.json'
  bad.write_text('{"version": 1}')
  with pytest.raises(ConfigError, match='not a SQuAD JSON'):
    squad.read(str(bad))
