import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax.models import MODELS
from mlm_jax.state import init_variables
from flax import linen as nn
from tests.conftest import tiny_config


def _inputs(B=2, L=32, seed=0):
  rng = np.random.default_rng(seed)
  ids = rng.integers(5, 512, (B, L)).astype(np.int32)
  seg = np.ones((B, L), np.int32)
  seg[:, 12:25] = 2  # document 2 occupies positions 12..24; then padding
  seg[:, 25:] = 0
  pos = np.concatenate([np.arange(12), np.arange(13), np.zeros(7, int)]).astype(np.int32)
  return ids, seg, np.broadcast_to(pos, (B, L)).copy()


def _model_and_params(**overrides):
  cfg = tiny_config(**overrides).model
  model = MODELS['bert'].module(cfg)
  params = nn.meta.unbox(init_variables(model, 32, jax.random.key(0)))
  return model, params


def test_segment_isolation_is_bit_exact():
  model, params = _model_and_params()
  ids, seg, pos = _inputs()
  h1, _ = model.apply({'params': params}, ids, seg, pos)
  ids2 = ids.copy()
  ids2[:, 12:25] = np.random.default_rng(1).integers(5, 512, (2, 13))
  h2, _ = model.apply({'params': params}, ids2, seg, pos)
  np.testing.assert_array_equal(np.asarray(h1[:, :12]), np.asarray(h2[:, :12]))
  assert not np.allclose(np.asarray(h1[:, 12:25]), np.asarray(h2[:, 12:25]))


def test_logits_only_at_masked_positions_match_full_logits():
  model, params = _model_and_params()
  ids, seg, pos = _inputs()
  masked = np.array([[0, 5, 13], [3, 20, 24]], np.int32)
  _, full = model.apply({'params': params}, ids, seg, pos)
  _, sparse = model.apply({'params': params}, ids, seg, pos, masked)
  assert full.shape == (2, 32, 512) and sparse.shape == (2, 3, 512)
  np.testing.assert_allclose(np.take_along_axis(np.asarray(full), masked[..., None], 1),
                             np.asarray(sparse), atol=1e-5)


def _stack_layers(params, n):
  enc = dict(params['encoder'])
  layers = [enc.pop(f'layers_{i}') for i in range(n)]
  enc['layers'] = jax.tree.map(lambda *xs: jnp.stack(xs), *layers)
  return {**params, 'encoder': enc}


def test_scan_equals_unrolled():
  for pre_ln in (False, True):
    model, params = _model_and_params(**{'model.pre_layer_norm': pre_ln})
    scan_model, scan_params = _model_and_params(**{'model.pre_layer_norm': pre_ln,
                                                   'model.scan_layers': True})
    stacked = _stack_layers(params, 2)
    assert jax.tree.structure(stacked) == jax.tree.structure(scan_params)
    ids, seg, pos = _inputs()
    h1, l1 = model.apply({'params': params}, ids, seg, pos)
    h2, l2 = scan_model.apply({'params': stacked}, ids, seg, pos)
    np.testing.assert_allclose(np.asarray(h1), np.asarray(h2), atol=1e-5)
    np.testing.assert_allclose(np.asarray(l1), np.asarray(l2), atol=1e-4)


@pytest.mark.slow
def test_remat_and_bfloat16_keep_float32_params():
  model, params = _model_and_params(**{'model.dtype': 'bfloat16', 'model.remat_policy': 'full',
                                       'model.scan_layers': True})
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
  ids, seg, pos = _inputs()

  def loss(p):
    _, logits = model.apply({'params': p}, ids, seg, pos, deterministic=False,
                            rngs={'dropout': jax.random.key(1)})
    return logits.mean()
  grads = jax.grad(loss)(params)
  assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))


def test_dropout_is_active_only_in_training():
  model, params = _model_and_params()
  ids, seg, pos = _inputs()
  apply = lambda det, k: model.apply({'params': params}, ids, seg, pos, deterministic=det,  # noqa
                                     rngs={'dropout': jax.random.key(k)})[0]
  np.testing.assert_array_equal(apply(True, 0), apply(True, 1))
  assert not np.allclose(apply(False, 0), apply(False, 1))


def test_bfloat16_runs_the_vocabulary_gemm_and_its_gradients_in_bfloat16():
  """The tied decoder's three GEMMs over the vocabulary (scores, and the gradients for the
  hidden states and the table) stay in the compute dtype: a float32 one was a TF32 kernel in
  the H100 profile."""
  model, params = _model_and_params(**{'model.dtype': 'bfloat16'})
  ids, seg, pos = _inputs()
  vocab = params['embeddings']['word_embeddings']['embedding'].shape[0]

  def loss(p):  # nonlinear in the scores, so the forward GEMM is kept
    _, logits = model.apply({'params': p}, ids, seg, pos)
    return jax.nn.logsumexp(logits.astype(jnp.float32), axis=-1).mean()
  hlo = jax.jit(jax.grad(loss)).lower(params).as_text()
  gemms = [line for line in hlo.splitlines()
           if 'dot_general' in line and (f'{vocab}x' in line or f'x{vocab}x' in line)]
  assert len(gemms) == 3
  assert all('f32>' not in line.split(':')[-1] for line in gemms), gemms
