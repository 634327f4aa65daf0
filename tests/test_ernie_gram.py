"""ERNIE-Gram (objectives/ernie_gram.py, ngram_masking.py, models/ernie_gram.py, the lexicon):
the T-test lexicon, n-grams masked whole as one [MASK] with renumbered positions, coarse and
fine targets on a hand-built row, the realised token rate, the two-stream attention, one-line
errors, and 20 steps on 8 fake devices followed by a GLUE fine-tune."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax import models, ngrams, state, train, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.data import ngram_lexicon
from mlm_jax.models import ernie_gram as ernie_model
from mlm_jax.objectives import ngram_masking
from mlm_jax.tokens import SpecialTokens
from tests.conftest import corpus_config, glue_smoke_finetune, read_records, tiny_config

TOKENS = SpecialTokens(0, 4, 2, 3, (0, 1, 2, 3, 4), 20)


def _lexicon(entries, vocab_size=20, max_len=3):
  """entries: token-id tuples, first the strongest."""
  rows = [(float(len(entries) - i), 10, len(e), np.array(e)) for i, e in enumerate(entries)]
  return ngram_lexicon._assemble(rows, max_len, vocab_size, 'test')  # pylint: disable=protected-access


def test_t_test_keeps_collocations_of_whole_words_inside_documents():
  rng = np.random.default_rng(0)
  docs = []
  for _ in range(300):
    d = rng.integers(10, 60, 40)
    d[5:8] = [7, 8, 9]  # a collocation of three words
    d[20:22] = [6, 61]  # 6 then a word continuation: never an n-gram end
    docs.append(d)
  word_start = np.ones(62, bool)
  word_start[61] = False
  lex = ngram_lexicon.build(docs, word_start, (0, 1, 2, 3, 4), 62, 'fp', 3, 40, 5)
  entries = {tuple(r[r >= 0]) for r in lex.ngrams}
  top = lex.ngrams[np.argmax(lex.tstat)]
  assert tuple(top[top >= 0]) in {(7, 8), (8, 9), (7, 8, 9)}
  assert (7, 8, 9) in entries
  assert not any(e[-1] == 6 for e in entries), 'an n-gram ending before a continuation piece'
  assert np.all(np.diff(lex.hashes.astype(np.int64)) > 0), 'sorted, unique hashes'
  # every stored row is found again by its hash
  for k in range(lex.size):
    n = lex.lengths[k]
    assert ngrams.ngram_hash([np.array([i]) for i in lex.ngrams[k, :n]], n)[0] == lex.hashes[k]


def test_lexicon_file_round_trip_and_errors(tmp_path):
  lex = _lexicon([(7, 8, 9), (5, 6)])
  ngrams.save(lex, str(tmp_path / 'lex.npz'))
  back = ngrams.load(str(tmp_path / 'lex.npz'))
  assert back.size == 2 and np.array_equal(back.ngrams, lex.ngrams) and back.vocab_size == 20
  with pytest.raises(ConfigError, match='objective.ngram_lexicon=.*no such file'):
    ngrams.load(str(tmp_path / 'none.npz'))
  (tmp_path / 'bad.npz').write_text('garbage')
  with pytest.raises(ConfigError, match='not an n-gram lexicon'):
    ngrams.load(str(tmp_path / 'bad.npz'))


def _hand_row():
  ids = jnp.array([[2, 10, 7, 8, 9, 11, 5, 6, 3, 2, 5, 6, 12, 3, 0, 0]])
  seg = jnp.array([[1] * 9 + [2] * 5 + [0, 0]])
  pos = jnp.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 0, 0]])
  return ids, seg, pos


def test_units_are_longest_lexicon_matches_inside_segments():
  ids, seg, _ = _hand_row()
  lex = ngram_masking.device_lexicon(_lexicon([(7, 8, 9), (5, 6), (3, 2)]))
  cand = (seg != 0) & ~jnp.isin(ids, jnp.array(TOKENS.special))
  length, row = ngram_masking.lexicon_matches(ids, seg, cand, jnp.ones_like(cand), lex)
  assert length[0].tolist() == [1, 1, 3, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1]
  start, unit_len, _ = ngram_masking.segment_units(length, row)
  assert np.flatnonzero(~np.asarray(start[0])).tolist() == [3, 4, 7, 11]  # inside n-grams
  assert unit_len[0, 2] == 3 and unit_len[0, 6] == 2


def test_hand_built_row_masks_ngrams_whole_as_one_mask_with_renumbered_positions():
  ids, seg, pos = _hand_row()
  lex = _lexicon([(7, 8, 9), (5, 6)])
  seen = set()
  for s in range(40):  # budget 5 of 10 candidates: some draws take both n-grams
    m = ngram_masking.mask_ngrams(jax.random.key(s), ids, seg, pos, TOKENS,
                                  ngram_masking.device_lexicon(lex), 0.5, 8, 20)
    chosen = np.asarray(m['chosen'][0])
    assert chosen.sum() == 5, 'the budget in tokens is met exactly'
    assert chosen[2] == chosen[3] == chosen[4] and chosen[6] == chosen[7]  # n-grams whole
    assert chosen[10] == chosen[11]
    main = np.asarray(m['input_ids'][0])
    units = int(np.asarray(m['coarse_weights'][0]).sum())
    assert (main == TOKENS.mask).sum() == units, 'one [MASK] per unit'
    assert (np.asarray(m['segment_ids'][0]) != 0).sum() == 14 - (5 - units), 'row compacted'
    fw = np.asarray(m['fine_weights'][0]).astype(bool)
    assert sorted(np.asarray(m['fine_ids'][0])[fw].tolist()) == sorted(
        np.asarray(ids[0])[chosen].tolist())
    # each coarse position holds a [MASK]; its query stream points at the same position
    cw = np.asarray(m['coarse_weights'][0]).astype(bool)
    at = np.asarray(m['coarse_positions'][0])[cw]
    assert np.all(main[at] == TOKENS.mask)
    assert set(np.asarray(m['positions'][0])[at].tolist()) == set(
        np.asarray(m['query_positions'][0])[fw].tolist())
    seen.add(tuple(main.tolist()))
    if chosen[2] and chosen[6]:  # both n-grams of segment 1: [CLS] 10 [M] 11 [M] [SEP] ...
      assert main[:6].tolist() == [2, 10, 4, 11, 4, 3]
      assert np.asarray(m['positions'][0])[:6].tolist() == [0, 1, 2, 3, 4, 5]
      ids_c = np.asarray(m['coarse_ids'][0])[cw]
      assert {20 + lex_row(lex, (7, 8, 9)), 20 + lex_row(lex, (5, 6))} <= set(ids_c.tolist())
      q = np.asarray(m['query_ids'][0])[fw]
      f = np.asarray(m['fine_ids'][0])[fw]
      assert q[f.tolist().index(9)] == 2 and q[f.tolist().index(8)] == 1
  assert len(seen) > 3


def lex_row(lex, entry):
  return next(k for k in range(lex.size) if tuple(lex.ngrams[k, :lex.lengths[k]]) == entry)


@pytest.mark.parametrize('rate', [0.15, 0.30])
@pytest.mark.parametrize('length', [128, 512])
def test_realised_token_rate_equals_the_configured_rate(rate, length):
  rng = np.random.default_rng(1)
  ids = rng.integers(5, 40, (32, length))
  ids[:, ::7] = 5  # frequent bigram (5, 6): many n-gram units
  ids[:, 1::7] = 6
  ids[:, 0], ids[:, -1] = 2, 3
  ids = jnp.asarray(ids)
  seg = jnp.ones_like(ids)
  pos = jnp.broadcast_to(jnp.arange(length), ids.shape)
  tokens = SpecialTokens(0, 4, 2, 3, (0, 1, 2, 3, 4), 40)
  lex = ngram_masking.device_lexicon(_lexicon([(5, 6), (7, 8, 9)], 40))
  from mlm_jax.objectives import masking  # pylint: disable=g-import-not-at-top
  m = ngram_masking.mask_ngrams(jax.random.key(0), ids, seg, pos, tokens, lex, rate,
                                masking.prediction_slots(rate, length), 40)
  realised = float(m['chosen'].sum()) / (32 * (length - 2))
  assert abs(realised - rate) < 0.005, realised
  assert float(m['coarse_weights'].sum()) < float(m['fine_weights'].sum())  # n-gram units


def test_main_stream_never_sees_the_queries_and_queries_see_only_main_and_themselves():
  main_seg = jnp.array([[1, 1, 2, 2, 0]])
  q_seg = jnp.array([[1, 2, 2, 0]])
  m = np.asarray(ernie_model.two_stream_mask(main_seg, q_seg))[0, 0]
  assert not m[:5, 5:].any()
  assert m[5, :5].tolist() == [True, True, False, False, False]
  assert m[6, :5].tolist() == [False, False, True, True, False]
  assert m[5:, 5:].tolist() == np.diag([True, True, True, False]).tolist()
  # so the main-stream states do not depend on the query stream
  c = tiny_config(**{'model.name': 'ernie_gram', 'model.ngram_vocab_size': 8,
                     'model.dropout_rate': 0.0, 'model.attention_dropout_rate': 0.0})
  model = models.build(c.model)
  # compiled once each, not op by op
  params = jax.jit(lambda r: state.init_variables(model, 16, r))(jax.random.key(0))
  params = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x, params,
                        is_leaf=lambda x: hasattr(x, 'value'))
  ids = jnp.arange(16)[None] % 30 + 5
  seg, pos = jnp.ones_like(ids), jnp.arange(16)[None]
  apply = jax.jit(lambda p, q: model.apply({'params': p}, ids, seg, pos, q, jnp.array([[3, 3]]),
                                           jnp.array([[1, 1]]), jnp.array([[3]])))
  outs = [apply(params, jnp.array([[q, 1]])) for q in (0, 2)]
  np.testing.assert_allclose(outs[0][0], outs[1][0], atol=1e-6)
  assert not np.allclose(outs[0][1][0, 0], outs[1][1][0, 0])  # the query vector matters
  assert outs[0][2].shape == (1, 1, c.model.vocab_size + 8)


@pytest.mark.parametrize('case', ['no_lexicon', 'missing', 'too_small', 'other_vocab'])
def test_bad_ernie_gram_settings_are_one_line(tmp_path, case):
  path = str(tmp_path / 'lex.npz')
  ngrams.save(_lexicon([(7, 8, 9), (5, 6)], vocab_size={'other_vocab': 99}.get(case, 20)), path)
  c = tiny_config(**{'model.name': 'ernie_gram', 'objective.name': 'ernie_gram',
                     'model.ngram_vocab_size': 1 if case == 'too_small' else 8,
                     'objective.ngram_lexicon': {'no_lexicon': '', 'missing': path + 'x'}.get(
                         case, path)})
  named = {'no_lexicon': 'objective.ngram_lexicon is empty', 'missing': 'no such file',
           'too_small': 'model.ngram_vocab_size=1', 'other_vocab': '99-token vocabulary'}[case]
  with pytest.raises(ConfigError, match=named) as e:
    validation.validate(c, 8)
    from mlm_jax import objectives  # pylint: disable=g-import-not-at-top
    objectives.objective(c.objective).make_loss(models.build(c.model), c.objective, TOKENS)
  assert '\n' not in str(e.value)


@pytest.mark.slow
def test_twenty_steps_fall_and_the_encoder_fine_tunes(shared_vocab, tmp_path):
  from mlm_jax.data import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
  v = vocab_lib.load(shared_vocab['vocab_path'])
  with open(shared_vocab['train'], encoding='utf-8') as f:
    docs = [v.seqio_vocab.encode(line) for line in f]
  lex = ngram_lexicon.build(docs, v.word_start, v.tokens.special, v.tokens.vocab_size, 'fp',
                            3, 200, 3)
  path = str(tmp_path / 'lex.npz')
  ngrams.save(lex, path)
  c = corpus_config(shared_vocab, **{'model.name': 'ernie_gram', 'objective.name': 'ernie_gram',
                                     'model.ngram_vocab_size': lex.size,
                                     'objective.ngram_lexicon': path, 'mesh.data': 8})
  pre = str(tmp_path / 'pre')
  train.run(c, pre)
  records = read_records(pre, 'train')
  assert records[-1]['step'] == 20 and records[-1]['loss'] < records[0]['loss'] - 0.5
  assert records[-1]['ngram_accuracy'] >= 0
  assert 0 <= glue_smoke_finetune(pre, str(tmp_path / 'ft'))['accuracy'] <= 1
  # Exported as a plain BERT: transformers' hidden states equal the encoder's.
  import torch  # pylint: disable=g-import-not-at-top
  from transformers import AutoModelForMaskedLM  # pylint: disable=g-import-not-at-top
  from mlm_jax import checkpointing, probe  # pylint: disable=g-import-not-at-top
  from mlm_jax.export import hf_export  # pylint: disable=g-import-not-at-top
  hf_export.export(pre, str(tmp_path / 'hf'))
  params, _ = checkpointing.restore_params(c, pre)
  ids = jnp.asarray([[2] + list(range(20, 40)) + [3]])
  ones = jnp.ones_like(ids)
  ours = probe.encoder_fn(c.model)(params, ids, ones, jnp.arange(22)[None])
  hf = AutoModelForMaskedLM.from_pretrained(str(tmp_path / 'hf')).eval()
  with torch.no_grad():
    theirs = hf.bert(torch.tensor(np.asarray(ids))).last_hidden_state.numpy()
  np.testing.assert_allclose(theirs, np.asarray(ours), atol=2e-4)
