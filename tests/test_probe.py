"""The frozen-encoder masked-token probe: the right encoder for each model family, a head that
learns while the encoder stays fixed, and a workdir probed end to end."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax import models, probe, state
from mlm_jax.data import pipeline
from tests.conftest import fake_run as _fake_run
from tests.conftest import corpus_config as _config

SPEC = probe.ProbeSpec(steps=25, batch_size=8, learning_rate=1e-2, eval_batches=2,
                       max_predictions=6)


def _params(cfg, seed=0):
  model = models.MODELS[cfg.model.name].module(cfg.model)
  from flax import linen as nn  # pylint: disable=g-import-not-at-top
  return nn.meta.unbox(state.init_variables(model, cfg.data.seq_len, jax.random.key(seed)))


def _batch(cfg, rows=2):
  rng = np.random.default_rng(0)
  ids = rng.integers(5, cfg.model.vocab_size, (rows, cfg.data.seq_len)).astype(np.int32)
  seg = np.ones_like(ids)
  pos = np.broadcast_to(np.arange(cfg.data.seq_len, dtype=np.int32), ids.shape)
  return jnp.asarray(ids), jnp.asarray(seg), jnp.asarray(pos)


@pytest.mark.parametrize('name', ['bert', 'bert_token_detector'])
def test_bert_family_encoder_is_the_models_hidden_state(shared_vocab, name):
  cfg = _config(shared_vocab, **{'model.name': name})
  params = _params(cfg)
  ids, seg, pos = _batch(cfg)
  hidden_BLD, _ = models.MODELS[name].module(cfg.model).apply({'params': params}, ids, seg, pos)
  got = probe.encoder_fn(cfg.model)(params, ids, seg, pos)
  assert got.shape == (2, cfg.data.seq_len, cfg.model.hidden_size)
  np.testing.assert_allclose(got, hidden_BLD, atol=1e-6)


def test_electra_encoder_is_the_discriminators(shared_vocab):
  cfg = _config(shared_vocab, **{'model.name': 'electra', 'model.embedding_size': 32,
                                 'model.generator_size_fraction': 0.25})
  params = _params(cfg)
  ids, seg, pos = _batch(cfg)
  encode = probe.encoder_fn(cfg.model)
  base = encode(params, ids, seg, pos)
  assert base.shape == (2, cfg.data.seq_len, cfg.model.hidden_size)
  bump = lambda tree: jax.tree.map(lambda x: x + 0.1, tree)  # noqa: E731
  gen_changed = dict(params, generator=bump(params['generator']))
  np.testing.assert_allclose(encode(gen_changed, ids, seg, pos), base, atol=1e-6)
  disc_changed = dict(params, discriminator=bump(params['discriminator']))
  assert not np.allclose(encode(disc_changed, ids, seg, pos), base, atol=1e-3)


def test_unknown_model_is_refused(shared_vocab):
  cfg = _config(shared_vocab, **{'model.name': 'nope'})
  with pytest.raises(ValueError, match='nope'):
    probe.encoder_fn(cfg.model)


@pytest.mark.slow
def test_probe_learns_leaves_encoder_alone_and_is_deterministic(shared_vocab, tmp_path):
  cfg = _config(shared_vocab)
  params = _params(cfg)
  before = jax.tree.map(np.array, params)
  source = pipeline.build_source(cfg.data, str(tmp_path))
  a = probe.probe(cfg.model, params, source, cfg.data.seq_len, SPEC)
  jax.tree.map(np.testing.assert_array_equal, before, jax.tree.map(np.array, params))
  assert 0.0 <= a['probe_accuracy'] <= 1.0 and a['probe_predictions'] > 0
  assert a['probe_train_loss'] < np.log(cfg.model.vocab_size)  # below the uniform guess
  assert a == probe.probe(cfg.model, params, source, cfg.data.seq_len, SPEC)


def test_probe_workdir_restores_the_run(shared_vocab, tmp_path):
  cfg = _config(shared_vocab, **{'model.name': 'bert_token_detector', 'objective.name': 'rts'})
  workdir = str(tmp_path / 'run')
  _fake_run(workdir, cfg, seed=3, step=5)
  out = probe.probe_workdir(workdir, SPEC)
  assert out['step'] == 5 and 0.0 <= out['probe_accuracy'] <= 1.0
