"""Position prediction (objectives/position_prediction.py, models/position_predictor.py, MP3):
which keys are hidden, that no position information reaches the model, targets and weights on
a hand-built row, one-line errors for positions left on, and 20 steps with falling loss then a
GLUE fine-tune with position embeddings added back."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax import models, state, train, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.objectives import position_prediction
from mlm_jax.tokens import SpecialTokens
from tests.conftest import corpus_config, glue_smoke_finetune, read_records, tiny_config

MODEL = {'model.name': 'position_predictor', 'model.position_scheme': 'none',
         'objective.name': 'position_prediction', 'objective.mask_rate': 0.5,
         'objective.max_predictions': 0,
         'model.dropout_rate': 0.0, 'model.attention_dropout_rate': 0.0}


def _model():
  c = tiny_config(**MODEL)
  model = models.build(c.model)
  params = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x,
                        state.init_variables(model, 12, jax.random.key(0)),
                        is_leaf=lambda x: hasattr(x, 'value'))
  return c, model, params


def test_context_hides_the_rate_of_real_tokens_per_row():
  seg = jnp.array([[1] * 10 + [2] * 6 + [0] * 4, [1] * 20])
  ctx = np.asarray(position_prediction.context_keys(jax.random.key(0), seg, 0.5))
  assert ctx[0].sum() == 8 and ctx[1].sum() == 10
  assert not ctx[0, 16:].any(), 'padding is never a key'


def test_no_position_information_reaches_the_model():
  """Permuting a row permutes every output: the encoder is blind to order."""
  _, model, params = _model()
  ids = jnp.arange(12)[None] + 10
  seg, pos = jnp.ones_like(ids), jnp.arange(12)[None]
  perm = np.random.default_rng(0).permutation(12)
  h, logits = model.apply({'params': params}, ids, seg, pos)
  h2, logits2 = model.apply({'params': params}, ids[:, perm], seg, pos)
  np.testing.assert_allclose(h2, h[:, perm], atol=1e-5)
  np.testing.assert_allclose(logits2, logits[:, perm], atol=1e-5)


def test_hidden_keys_reach_no_other_token():
  _, model, params = _model()
  ids = jnp.arange(12)[None] + 10
  seg, pos = jnp.ones_like(ids), jnp.arange(12)[None]
  ctx = jnp.ones_like(ids, bool).at[0, 5].set(False)
  h, _ = model.apply({'params': params}, ids, seg, pos, ctx)
  h2, _ = model.apply({'params': params}, ids.at[0, 5].set(40), seg, pos, ctx)
  others = [j for j in range(12) if j != 5]
  np.testing.assert_allclose(h2[0, others], h[0, others], atol=1e-6)
  assert not np.allclose(h2[0, 5], h[0, 5])


def test_targets_are_positions_in_the_segment_without_specials():
  c, model, params = _model()
  tokens = SpecialTokens(0, 4, 2, 3, (0, 1, 2, 3, 4), c.model.vocab_size)
  loss_fn = position_prediction.make_loss(model, c.objective, tokens)
  ids = jnp.array([[2, 10, 11, 12, 3, 2, 13, 14, 3, 0, 0, 0]])
  seg = jnp.array([[1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0]])
  pos = jnp.array([[0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 0, 0]])
  out = loss_fn(params, {'input_ids': ids, 'segment_ids': seg, 'positions': pos},
                jax.random.key(0), False)
  assert float(out.metrics['position_accuracy'][1]) == 5  # 10 11 12 | 13 14
  # a head that answers the true position scores 1.0: the targets are `positions`
  params['position_head']['out']['kernel'] = np.zeros_like(params['position_head']['out']['kernel'])
  bias = np.full(c.model.max_positions, -10.0, np.float32)
  bias[1] = 10.0  # always answers 1: right for tokens 10 and 13 only
  params['position_head']['out']['bias'] = bias
  out = loss_fn(params, {'input_ids': ids, 'segment_ids': seg, 'positions': pos},
                jax.random.key(0), False)
  assert float(out.metrics['position_accuracy'][0]) == 2


@pytest.mark.parametrize('scheme', ['learned', 'rotary', 'alibi'])
def test_position_prediction_with_positions_on_is_one_line(scheme):
  c = tiny_config(**{**MODEL, 'model.position_scheme': scheme})
  with pytest.raises(ConfigError, match=f"model.position_scheme='{scheme}'") as e:
    validation.validate(c, 8)
  assert '\n' not in str(e.value)


@pytest.mark.slow
def test_twenty_steps_fall_and_the_encoder_fine_tunes_with_positions_added(shared_vocab, tmp_path):
  c = corpus_config(shared_vocab, **{**MODEL, 'mesh.data': 8})
  pre = str(tmp_path / 'pre')
  train.run(c, pre)
  records = read_records(pre, 'train')
  assert records[-1]['step'] == 20 and records[-1]['loss'] < records[0]['loss'] - 0.5
  result = glue_smoke_finetune(pre, str(tmp_path / 'ft'), **{
      'finetune.add_position_embeddings': True})
  assert 0 <= result['accuracy'] <= 1
  from mlm_jax import config_lib  # pylint: disable=g-import-not-at-top
  assert config_lib.load_run_config(str(tmp_path / 'ft')).model.position_scheme == 'learned'
