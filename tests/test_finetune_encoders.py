"""Each family's fine-tuning encoder equals the pre-training model's own encoder pass, on the
subtree encoder_params takes out; a tree without an encoder is a one-line error."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax import models, probe
from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import encoders
from mlm_jax.finetune.model import FinetuneModel
from tests.conftest import tiny_config


def _cfg(name, **kw):
  c = tiny_config(**{'model.name': name, **kw}).model
  if name == 'electra':
    c.embedding_size = 32
  return c


@pytest.mark.parametrize('name,extra', [('bert', {}), ('bert_token_detector', {}),
                                        ('electra', {}),
                                        ('electra', {'model.embedding_sharing': 'gdes'}),
                                        ('ernie_gram', {'model.ngram_vocab_size': 8}),
                                        ('position_predictor', {'model.position_scheme': 'none'})])
def test_encoder_equals_pretraining_encoder(name, extra):
  cfg = _cfg(name, **extra)
  ids = jax.random.randint(jax.random.key(1), (2, 16), 5, cfg.vocab_size)
  seg = jnp.ones_like(ids).at[1, 12:].set(0)
  pos = jnp.broadcast_to(jnp.arange(16), ids.shape)
  full = models.MODELS[name].module(cfg).init(jax.random.key(0), ids, seg, pos, ids[:, :1])['params']
  full = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x, full,
                      is_leaf=lambda x: hasattr(x, 'value'))
  if 'disc_embeddings' in full:  # a non-zero delta, so E + delta is really exercised
    for delta in ('word_delta', 'position_delta'):
      full['disc_embeddings'][delta] = full['disc_embeddings'][delta] + 0.01
  want = probe.encoder_fn(cfg)(full, ids, seg, pos)
  sub = encoders.encoder_params(cfg, full)
  got = encoders.encoder_module(cfg).apply({'params': sub}, ids, seg, pos)
  np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)
  # The same subtree is the 'backbone' of the fine-tuning model, names and shapes alike.
  ft = FinetuneModel(cfg, 'classification', 3).init(jax.random.key(2), ids, seg, pos)['params']
  ft = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x, ft,
                    is_leaf=lambda x: hasattr(x, 'value'))
  assert jax.tree.map(np.shape, ft['backbone']) == jax.tree.map(np.shape, sub)


@pytest.mark.parametrize('name', ['bert', 'electra'])
def test_mlm_logits_equal_pretraining_mlm(name):
  cfg = _cfg(name)
  ids = jax.random.randint(jax.random.key(1), (2, 16), 5, cfg.vocab_size)
  seg = jnp.ones_like(ids).at[1, 12:].set(0)
  pos = jnp.broadcast_to(jnp.arange(16), ids.shape)
  masked = jnp.array([[3], [7]])
  pre = models.MODELS[name].module(cfg)
  full = pre.init(jax.random.key(0), ids, seg, pos, masked)['params']
  full = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x, full,
                      is_leaf=lambda x: hasattr(x, 'value'))
  kw = {'branch': 'generator'} if name == 'electra' else {}
  want = pre.apply({'params': full}, ids, seg, pos, masked, **kw)
  want = want[1] if name == 'bert' else want
  ft = FinetuneModel(cfg, 'generative', 2)
  got = ft.apply({'params': {'backbone': encoders.encoder_params(cfg, full, mlm_head=True)}},
                 ids, seg, pos, masked)
  np.testing.assert_allclose(np.asarray(got), np.asarray(want)[:, 0], atol=1e-5)


def test_mlm_head_only_where_the_family_has_one():
  encoders.check(_cfg('bert'), mlm_head=True)
  with pytest.raises(ConfigError, match='no MLM head'):
    encoders.check(_cfg('bert_token_detector'), mlm_head=True)


def test_checkpoint_without_encoder_is_one_line():
  with pytest.raises(ConfigError, match='PRE: the checkpoint has no discriminator/encoder'):
    encoders.encoder_params(_cfg('electra'), {'embeddings': {}, 'generator': {}}, where='PRE')
  cfg = _cfg('bert')
  cfg.name = 'gpt'
  with pytest.raises(ConfigError, match="model.name='gpt' is not one of"):
    encoders.encoder_module(cfg)
