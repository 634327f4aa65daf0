"""RTS, the SimHash C-RTS variant and SLM: label construction on hand-built rows, the detector model, and 20
training steps of each configs/substitution.py variant on 8 fake CPU devices."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import substitution as sub_config
from mlm_jax import models, state, train
from mlm_jax.objectives import OBJECTIVES, masking, substitution
from tests.conftest import corpus_config as _config, read_records as _records

TOKENS = masking.SpecialTokens(pad=0, mask=4, cls=2, sep=3, special=(0, 1, 2, 3, 4),
                               vocab_size=40)
# Two packed rows: [CLS] words [SEP] then padding (segment 0).
IDS = np.array([[2, 10, 11, 12, 13, 14, 15, 3, 0, 0],
                [2, 20, 21, 22, 3, 2, 23, 24, 3, 0]], np.int32)
SEG = np.array([[1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
                [1, 1, 1, 1, 1, 2, 2, 2, 2, 0]], np.int32)
SPECIAL = np.isin(IDS, TOKENS.special)


def test_only_real_non_special_tokens_are_chosen():
  for seed in range(20):
    chosen = np.asarray(substitution.choose(jax.random.key(seed), IDS, SEG, TOKENS, 0.5))
    assert not (chosen & (SEG == 0)).any() and not (chosen & SPECIAL).any()
    n_cand = ((SEG != 0) & ~SPECIAL).sum(axis=1)
    np.testing.assert_array_equal(chosen.sum(axis=1), np.round(n_cand * 0.5))


def test_uniform_substitutes_are_never_special():
  subs = np.asarray(substitution.uniform_substitutes(jax.random.key(0), (64, 64), TOKENS))
  assert not np.isin(subs, TOKENS.special).any()
  assert subs.min() >= 0 and subs.max() < TOKENS.vocab_size


def test_labels_and_weights_the_loss_sees():
  chosen = np.zeros_like(IDS, bool)
  chosen[0, [1, 2]] = True  # 10 -> 30 (a substitution), 11 -> 11 (drawn equal: not one)
  chosen[1, 6] = True  # 23 -> 31
  subs = np.full_like(IDS, 30)
  subs[0, 2], subs[1, 6] = 11, 31
  s = substitution.substitute(chosen, IDS, SEG, subs)
  want_ids = IDS.copy()
  want_ids[0, 1], want_ids[1, 6] = 30, 31
  np.testing.assert_array_equal(s['input_ids'], want_ids)
  want_labels = np.zeros(IDS.shape, np.float32)
  want_labels[0, 1] = want_labels[1, 6] = 1
  np.testing.assert_array_equal(s['labels'], want_labels)
  np.testing.assert_array_equal(s['weights'], (SEG != 0).astype(np.float32))  # pads weigh 0


def test_detection_metrics_count_precision_and_recall():
  labels = np.array([[1, 1, 0, 0, 0]], np.float32)
  weights = np.array([[1, 1, 1, 1, 0]], np.float32)
  logits = np.array([[3., -3., 3., -3., 3.]], np.float32)  # TP, FN, FP, TN, pad
  loss, m = substitution.detection_metrics(logits, labels, weights)
  assert float(m['detection_accuracy'][0]) == 2 and float(m['detection_accuracy'][1]) == 4
  assert float(m['substitution_precision'][0]) == 1 and float(m['substitution_precision'][1]) == 2
  assert float(m['substitution_recall'][0]) == 1 and float(m['substitution_recall'][1]) == 2
  assert float(m['substituted_fraction'][0]) == 2 and float(m['substituted_fraction'][1]) == 4
  assert float(m['baseline_detection_accuracy'][0]) == 2  # 'not substituted' everywhere
  np.testing.assert_allclose(float(m['baseline_loss'][0] / m['baseline_loss'][1]), np.log(2),
                             rtol=1e-6)  # half substituted: the best constant answer's loss
  xent = np.log1p(np.exp(-3.0))
  np.testing.assert_allclose(float(loss), (xent + (3 + xent) + (3 + xent) + xent) / 4, rtol=1e-5)


def _grouped_table(dim=16):
  """Ids 5-14, 15-24, 25-39: three groups of identical embedding rows (plus specials)."""
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(3, dim))
  group = np.array([0] * 5 + [0] * 10 + [1] * 10 + [2] * 15)
  return centres[group] + 1e-6 * rng.normal(size=(40, dim)), group


def test_crts_simhash_substitutes_come_from_the_original_bucket():
  table, group = _grouped_table()
  cluster = np.asarray(substitution.cluster_ids(jnp.asarray(table, jnp.float32), bits=4))
  for g in range(3):  # identical rows hash to one bucket
    assert len(set(cluster[5:][group[5:] == g])) == 1
  ids = np.tile(np.arange(5, 40, dtype=np.int32), (4, 1))
  subs = np.asarray(substitution.cluster_substitutes(jax.random.key(1), ids, cluster, TOKENS))
  assert not np.isin(subs, TOKENS.special).any()
  np.testing.assert_array_equal(cluster[subs], cluster[ids])
  assert (subs != ids).mean() > 0.8  # buckets of >= 10 tokens: mostly a different token


def test_crts_simhash_token_alone_in_its_bucket_gets_a_random_substitute():
  cluster = np.zeros(40, np.int32)
  cluster[7] = 1  # token 7 alone in bucket 1
  ids = np.full((2, 64), 7, np.int32)
  subs = np.asarray(substitution.cluster_substitutes(jax.random.key(0), ids, cluster, TOKENS))
  assert (subs != 7).mean() > 0.9 and not np.isin(subs, TOKENS.special).any()


def test_slm_swaps_without_mask_and_predicts_originals():
  for seed in range(10):
    m = substitution.swap_batch(jax.random.key(seed), IDS, SEG, TOKENS, 0.5, 4)
    corrupted, pos, w = map(np.asarray, (m['input_ids'], m['masked_positions'],
                                         m['masked_weights']))
    assert not (corrupted == TOKENS.mask).any()
    rows = np.arange(2)[:, None]
    np.testing.assert_array_equal(np.asarray(m['masked_ids']), IDS[rows, pos])
    chosen = np.zeros(IDS.shape, bool)
    chosen[np.repeat(rows, 4, 1)[w > 0], pos[w > 0]] = True
    assert not (chosen & ((SEG == 0) | SPECIAL)).any()
    np.testing.assert_array_equal(corrupted[~chosen], IDS[~chosen])  # only chosen ones change


def _model_cfg(name):
  c = sub_config.get_config(f'objective={name},tiny')
  return ml_collections.ConfigDict(c.to_dict())


def test_detector_model_gives_one_logit_per_token():
  c = _model_cfg('rts')
  model = models.MODELS[c.model.name].module(c.model)
  params = state.init_variables(model, 16, jax.random.key(0))
  params = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x, params,
                        is_leaf=lambda x: hasattr(x, 'value'))
  ids = jnp.asarray(np.tile(np.arange(16, dtype=np.int32), (3, 1)))
  hidden, logits = model.apply({'params': params}, ids, jnp.ones_like(ids), ids)
  assert hidden.shape == (3, 16, c.model.hidden_size) and logits.shape == (3, 16)
  assert 'detection_head' in params and 'mlm_head' not in params


@pytest.mark.parametrize('name', ['rts', 'crts_simhash', 'slm'])
def test_loss_fn_runs_and_reports_its_metrics(name):
  c = _model_cfg(name)
  model = models.MODELS[c.model.name].module(c.model)
  params = state.init_variables(model, IDS.shape[1], jax.random.key(0))
  params = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x, params,
                        is_leaf=lambda x: hasattr(x, 'value'))
  tokens = masking.SpecialTokens(0, 4, 2, 3, (0, 1, 2, 3, 4), 40)
  loss_fn = OBJECTIVES[name].make_loss(model, c.objective, tokens)
  batch = {'input_ids': IDS, 'segment_ids': SEG,
           'positions': np.tile(np.arange(IDS.shape[1], dtype=np.int32), (2, 1))}
  out = jax.jit(loss_fn, static_argnums=3)(params, batch, jax.random.key(0), False)
  assert np.isfinite(float(out.loss))
  key = OBJECTIVES[name].headline(c.objective)
  assert key == ('mlm_accuracy' if name == 'slm' else 'detection_accuracy')
  assert key in out.metrics



@pytest.mark.slow
@pytest.mark.parametrize('name', ['rts', 'crts_simhash', 'slm'])
def test_twenty_steps_on_eight_devices_loss_falls(name, shared_vocab, tmp_path):
  c = _model_cfg(name)
  c.train.peak_flops = 1e11
  c.data.update(_config(shared_vocab).data.to_dict())  # the shared corpus and vocabulary
  c.mesh.data = 8
  workdir = str(tmp_path / name)
  final = train.run(c, workdir)
  records = _records(workdir, 'train')
  assert [r['step'] for r in records] == [5, 10, 15, 20]
  assert records[-1]['loss'] < records[0]['loss'] - (0.5 if name == 'slm' else 0.05)
  if name == 'slm':
    assert 'mlm_accuracy' in final and 0.5 < records[-1]['swapped_fraction'] <= 1
  else:
    for key in ('detection_accuracy', 'substitution_precision', 'substitution_recall'):
      assert key in final
    assert 0.05 < records[-1]['substituted_fraction'] < 0.2
