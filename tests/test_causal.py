"""Causal LM and prefix LM (objectives/causal.py): targets and weights on hand-built rows, the
attention each needs (the future never leaks; the prefix is bidirectional exactly over itself),
one-line errors for a mismatched attention pattern, and 20 steps on 8 fake devices with falling
loss followed by a GLUE fine-tune of the encoder left behind."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import causal as causal_config
from mlm_jax import models, state, train, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.objectives import causal, hybrid
from mlm_jax.tokens import SpecialTokens
from tests.conftest import corpus_config, glue_smoke_finetune, read_records


def test_next_token_targets_stay_inside_segments():
  ids = jnp.array([[2, 10, 11, 3, 2, 20, 3, 0, 0]])
  seg = jnp.array([[1, 1, 1, 1, 2, 2, 2, 0, 0]])
  targets, weights = causal.next_token_targets(ids, seg)
  np.testing.assert_array_equal(weights[0], [1, 1, 1, 0, 1, 1, 0, 0, 0])
  np.testing.assert_array_equal(np.asarray(targets)[0][np.asarray(weights[0]) > 0],
                                [10, 11, 3, 20, 3])  # the last word predicts [SEP]


def _model_and_params(pattern):
  c = causal_config.get_config('tiny').model
  c = ml_collections.ConfigDict({**c.to_dict(), 'attention_pattern': pattern})
  model = models.build(c)
  params = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x,
                        jax.jit(lambda r: state.init_variables(model, 16, r))(jax.random.key(0)),
                        is_leaf=lambda x: hasattr(x, 'value'))
  return model, params


def _logits(model, params, ids, prefix_len=None):
  seg = jnp.ones_like(ids)
  pos = jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape)
  return model.apply({'params': params}, ids, seg, pos, None, deterministic=True,
                     prefix_len_B=prefix_len)[1]


def test_causal_attention_never_sees_the_future():
  model, params = _model_and_params('causal')
  ids = jnp.arange(5, 21)[None]
  for k in (3, 9, 15):
    changed = ids.at[0, k].set(99)
    diff = np.abs(np.asarray(_logits(model, params, ids) - _logits(model, params, changed)))
    assert diff[0, :k].max() == 0, f'position < {k} saw token {k}'
    assert diff[0, k:].max() > 0


def test_prefix_is_bidirectional_exactly_over_the_prefix():
  model, params = _model_and_params('prefix')
  ids, p = jnp.arange(5, 21)[None], jnp.array([6])
  base = _logits(model, params, ids, p)
  inside = np.abs(np.asarray(base - _logits(model, params, ids.at[0, 4].set(99), p)))[0]
  assert inside.max(axis=-1).min() > 0, 'every position sees a prefix token, earlier ones too'
  after = np.abs(np.asarray(base - _logits(model, params, ids.at[0, 10].set(99), p)))[0]
  assert after[:10].max() == 0 and after[10:].max(axis=-1).min() > 0


def test_prefix_lm_predicts_only_after_the_prefix():
  model, params = _model_and_params('prefix')
  cfg = causal_config.get_config('objective=prefix_lm,tiny')
  fn = causal.PREFIX_LM.make_loss(model, cfg.objective, None)
  ids = jnp.tile(jnp.arange(5, 21)[None], (64, 1))
  batch = {'input_ids': ids, 'segment_ids': jnp.ones_like(ids),
           'positions': jnp.broadcast_to(jnp.arange(16), ids.shape)}
  out = fn(params, batch, jax.random.key(1), False)
  predicted = float(out.metrics['lm_loss'][1])
  # Prefix lengths uniform in [1, 15]: rows predict positions >= prefix (15 - p + 1 targets,
  # the last position predicts nothing), so the mean count per row is 8 of 15.
  assert 0 < predicted < 64 * 15 and abs(predicted / 64 - 8) < 1.5


def test_meap_masks_inputs_but_predicts_the_originals_everywhere():
  model, params = _model_and_params('causal')
  cfg = causal_config.get_config('objective=meap,tiny')
  tokens = SpecialTokens(0, 4, 2, 3, (0, 1, 2, 3, 4), cfg.model.vocab_size)
  ids = jnp.tile(jnp.concatenate([jnp.array([2]), jnp.arange(10, 24), jnp.array([3])])[None],
                 (32, 1))
  seg = jnp.ones_like(ids)
  masked = np.asarray(causal.mask_inputs(jax.random.key(2), ids, seg, tokens, 0.15))
  changed = masked != np.asarray(ids)
  assert np.all(masked[changed] == 4), 'MEAP replaces with [MASK] only'
  np.testing.assert_array_equal(changed.sum(1), round(14 * 0.15))  # of the 14 real tokens
  assert not changed[:, [0, 15]].any(), '[CLS] and [SEP] are never masked'
  batch = {'input_ids': ids, 'segment_ids': seg,
           'positions': jnp.broadcast_to(jnp.arange(16), ids.shape)}
  loss_fn = causal.MEAP.make_loss(model, cfg.objective, tokens)
  out = jax.jit(lambda p, b: loss_fn(p, b, jax.random.key(3), False))(params, batch)
  assert float(out.metrics['lm_loss'][1]) == 32 * 15  # every next token, masked or not


def test_gpt_bert_rows_are_causal_or_masked_next_token():
  """The first rows are causal (original input, every next token); the rest see a masked
  input bidirectionally and predict, at position i, the chosen token at i + 1."""
  model, params = _model_and_params('prefix')
  cfg = causal_config.get_config('objective=gpt_bert,tiny')
  assert hybrid.causal_rows(32, 1 / 16) == 2 and hybrid.causal_rows(8, 1 / 16) == 1
  tokens = SpecialTokens(0, 4, 2, 3, (0, 1, 2, 3, 4), cfg.model.vocab_size)
  ids = jnp.tile(jnp.concatenate([jnp.array([2]), jnp.arange(10, 24), jnp.array([3])])[None],
                 (32, 1))
  batch = {'input_ids': ids, 'segment_ids': jnp.ones_like(ids),
           'positions': jnp.broadcast_to(jnp.arange(16), ids.shape)}
  seen = {}

  def spy(variables, inputs, seg, pos, masked, deterministic, prefix_len_B, rngs):
    seen.update(inputs=np.asarray(inputs), prefix=np.asarray(prefix_len_B))
    return model.apply(variables, inputs, seg, pos, masked, deterministic=deterministic,
                       prefix_len_B=prefix_len_B, rngs=rngs)

  class Spy:
    apply = staticmethod(spy)

  out = hybrid.make_loss(Spy, cfg.objective, tokens)(params, batch, jax.random.key(4), False)
  np.testing.assert_array_equal(seen['prefix'], [0, 0] + [16] * 30)
  np.testing.assert_array_equal(seen['inputs'][:2], np.asarray(ids[:2]))  # causal: untouched
  assert (seen['inputs'][2:] != np.asarray(ids[2:])).any(axis=1).mean() > 0.5
  assert float(out.metrics['causal_loss'][1]) == 2 * 15
  # Masked rows predict exactly their chosen tokens: round(0.15 x 14) = 2 per row.
  assert float(out.metrics['masked_loss'][1]) == 30 * 2


@pytest.mark.parametrize('name,pattern', [('clm', 'bidirectional'), ('prefix_lm', 'causal'),
                                          ('meap', 'prefix'), ('gpt_bert', 'causal')])
def test_mismatched_attention_is_one_line(name, pattern):
  c = ml_collections.ConfigDict(causal_config.get_config(f'objective={name},tiny').to_dict())
  c.model.attention_pattern = pattern
  with pytest.raises(ConfigError, match=f"objective.name='{name}' needs model.attention_pattern"):
    validation.validate(c, 8)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['clm', 'prefix_lm', 'meap', 'gpt_bert'])
def test_twenty_steps_fall_and_the_encoder_fine_tunes(name, shared_vocab, tmp_path):
  pattern = causal_config.get_config(f'objective={name},tiny').model.attention_pattern
  c = corpus_config(shared_vocab, **{'objective.name': name, 'model.attention_pattern': pattern,
                                     'mesh.data': 8})
  pre = str(tmp_path / 'pre')
  final = train.run(c, pre)
  records = read_records(pre, 'train')
  assert records[-1]['step'] == 20 and records[-1]['loss'] < records[0]['loss'] - 0.5
  assert final['perplexity'] > 1
  assert 0 <= glue_smoke_finetune(pre, str(tmp_path / 'ft'))['accuracy'] <= 1
