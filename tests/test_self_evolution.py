"""Self-evolution learning (objectives/self_evolution.py): hard tokens first on hand-built
losses, hard tokens always [MASK], the rectified smooth label's mixture, one-line errors, and
20 steps on 8 fake devices with falling loss then a GLUE fine-tune."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax import models, state, train, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.objectives import self_evolution
from mlm_jax.tokens import SpecialTokens
from tests.conftest import corpus_config, glue_smoke_finetune, read_records, tiny_config


def test_hard_tokens_go_first_by_loss_then_random_ones_fill_the_budget():
  nll = jnp.array([[0.0, 0.5, 0.05, 2.0, 0.01, 0.3, 0.02, 0.0]])
  cand = jnp.array([[False, True, True, True, True, True, True, False]])
  for s in range(10):
    chosen, hard = self_evolution.choose_hard_first(jax.random.key(s), nll, cand, 0.1,
                                                    jnp.array([2]))
    assert np.flatnonzero(chosen[0]).tolist() == [1, 3]  # the two hardest of three hard ones
    assert np.array_equal(hard, chosen)
  seen = set()
  for s in range(20):
    chosen, hard = self_evolution.choose_hard_first(jax.random.key(s), nll, cand, 0.1,
                                                    jnp.array([5]))
    at = np.flatnonzero(chosen[0]).tolist()
    assert {1, 3, 5} <= set(at) and len(at) == 5 and 0 not in at and 7 not in at
    assert np.flatnonzero(hard[0]).tolist() == [1, 3, 5]
    seen.add(tuple(at))
  assert len(seen) > 1, 'the rest of the budget is random'


def _loss(**objective):
  c = tiny_config(**{'objective.name': 'self_evolution', 'model.dropout_rate': 0.0,
                     'model.attention_dropout_rate': 0.0, 'objective.max_predictions': 0,
                     **{f'objective.{k}': v for k, v in objective.items()}})
  model = models.build(c.model)
  params = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x,
                        jax.jit(lambda r: state.init_variables(model, 32, r))(jax.random.key(0)),
                        is_leaf=lambda x: hasattr(x, 'value'))
  tokens = SpecialTokens(0, 4, 2, 3, (0, 1, 2, 3, 4), c.model.vocab_size)
  loss_fn = self_evolution.make_loss(model, c.objective, tokens)
  ids = jax.random.randint(jax.random.key(1), (4, 32), 5, c.model.vocab_size)
  ids = ids.at[:, 0].set(2).at[:, -1].set(3)
  batch = {'input_ids': ids, 'segment_ids': jnp.ones_like(ids),
           'positions': jnp.broadcast_to(jnp.arange(32), ids.shape)}
  return jax.jit(lambda p, b: loss_fn(p, b, jax.random.key(2), False))(params, batch)  # compiled


def test_smooth_label_mixes_one_hot_and_the_models_own_prediction():
  plain, half, own = (_loss(se_smoothing=a) for a in (0.0, 0.5, 1.0))
  total, count = plain.metrics['mlm_loss']
  np.testing.assert_allclose(plain.loss, total / count, rtol=1e-5)  # a = 0: plain MLM
  np.testing.assert_allclose(half.loss, (plain.loss + own.loss) / 2, rtol=1e-5)  # linear in a
  assert not np.isclose(plain.loss, own.loss)


def test_hard_fraction_follows_the_threshold():
  assert float(np.divide(*_loss(se_threshold=0.0).metrics['hard_fraction'])) == 1.0
  assert float(_loss(se_threshold=1e9).metrics['hard_fraction'][0]) == 0.0


@pytest.mark.parametrize('key,value', [('se_smoothing', 1.5), ('se_threshold', -1.0),
                                       ('whole_word', True)])
def test_bad_settings_are_one_line(key, value):
  c = tiny_config(**{'objective.name': 'self_evolution', f'objective.{key}': value})
  with pytest.raises(ConfigError, match=f'objective.{key}') as e:
    validation.validate(c, 8)
  assert '\n' not in str(e.value)


@pytest.mark.slow
def test_twenty_steps_fall_and_the_encoder_fine_tunes(shared_vocab, tmp_path):
  c = corpus_config(shared_vocab, **{'objective.name': 'self_evolution', 'mesh.data': 8})
  pre = str(tmp_path / 'pre')
  train.run(c, pre)
  records = read_records(pre, 'train')
  # it keeps choosing the tokens it predicts worst, so its loss falls slower than MLM's
  assert records[-1]['step'] == 20 and records[-1]['loss'] < records[0]['loss'] - 0.3
  assert 0 <= glue_smoke_finetune(pre, str(tmp_path / 'ft'))['accuracy'] <= 1
