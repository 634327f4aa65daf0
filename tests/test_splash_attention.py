"""model.attention_impl=splash (Pallas splash attention, run here in interpret mode) against the
XLA reference path: outputs and gradients for each pattern with packed segments and padding,
global/local layers picked by a traced flag, a whole ModernBERT model, one-line refusals."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import linen as nn

from mlm_jax import config_lib, models, state, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.models import attention

L, H, K = 128, 2, 16


def _rows():
  """Two rows of 128: three packed documents then padding; one document then padding."""
  seg = np.zeros((2, L), np.int32)
  seg[0, :40], seg[0, 40:90], seg[0, 90:120] = 1, 2, 3
  seg[1, :100] = 1
  pos = np.zeros_like(seg)
  for b in range(2):
    for s in set(seg[b]) - {0}:
      idx = np.flatnonzero(seg[b] == s)
      pos[b, idx] = np.arange(len(idx))
  return seg, pos


def _module(impl, pattern, window=32):
  return attention.Attention(H, K, 0.0, 0.0, 0.02, jnp.float32, impl, True, use_bias=True,
                             rotary_base=1e4, pattern=pattern, window=window)


@pytest.mark.parametrize('pattern', ['bidirectional', 'causal', 'sliding_window'])
def test_splash_equals_xla_outputs_and_gradients(pattern):
  seg, pos = _rows()
  x = np.random.default_rng(0).normal(size=(2, L, H * K)).astype(np.float32)
  mask = attention.pattern_mask(pattern, seg, pos, 32)
  ref, spl = _module('xla', pattern), _module('splash', pattern)
  params = nn.meta.unbox(ref.init(jax.random.key(0), x, mask, pos))['params']
  real = seg != 0

  def loss(module, p):
    out = module.apply({'params': p}, x, mask, pos, seg)
    return (out * real[..., None] * jnp.arange(H * K)).sum() / 1000, out

  (l_ref, o_ref), g_ref = jax.value_and_grad(lambda p: loss(ref, p), has_aux=True)(params)
  (l_spl, o_spl), g_spl = jax.value_and_grad(lambda p: loss(spl, p), has_aux=True)(params)
  np.testing.assert_allclose(np.asarray(o_spl)[real], np.asarray(o_ref)[real], atol=1e-5)
  for a, b in zip(jax.tree.leaves(g_spl), jax.tree.leaves(g_ref)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4, rtol=1e-4)


def test_traced_global_flag_switches_to_the_whole_segment():
  seg, pos = _rows()
  x = np.random.default_rng(1).normal(size=(2, L, H * K)).astype(np.float32)
  local = attention.pattern_mask('sliding_window', seg, pos, 32)
  full = attention.pattern_mask('bidirectional', seg, pos, 32)
  spl = _module('splash', 'sliding_window')
  params = nn.meta.unbox(spl.init(jax.random.key(0), x, local, pos))['params']
  run = jax.jit(lambda g: spl.apply({'params': params}, x, local, pos, seg, g))
  ref = _module('xla', 'sliding_window')
  real = seg != 0
  for flag, mask in ((True, full), (False, local)):
    want = ref.apply({'params': params}, x, mask, pos)
    np.testing.assert_allclose(np.asarray(run(jnp.asarray(flag)))[real], np.asarray(want)[real],
                               atol=1e-5)


@pytest.mark.parametrize('scan', [False, True])
def test_modernbert_with_splash_equals_xla(scan):
  c = ml_collections.ConfigDict(config_lib.load_config_file('configs/modernbert.py:size=tiny')
                                .to_dict())
  c.model.update(vocab_size=97, attention_window=32, scan_layers=scan)
  c.data.vocab_size = 97
  seg, pos = _rows()
  ids = np.random.default_rng(2).integers(5, 97, (2, L)).astype(np.int32) * (seg != 0)
  model = models.build(c.model)
  params = nn.meta.unbox(state.init_variables(model, L, jax.random.key(0)))
  _, want = model.apply({'params': params}, ids, seg, pos)
  c.model.attention_impl = 'splash'
  validation.validate(c, 1)
  _, got = models.build(c.model).apply({'params': params}, ids, seg, pos)
  real = seg != 0
  np.testing.assert_allclose(np.asarray(got)[real], np.asarray(want)[real], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('changes,words', [
    ({'model.position_scheme': 'alibi'}, 'alibi'),
    ({'model.attention_pattern': 'prefix'}, "attention_pattern='prefix'"),
    ({'model.attention_dropout_rate': 0.1}, 'attention_dropout_rate=0'),
    ({'data.seq_len': 100}, 'data.seq_len=100')])
def test_unsupported_settings_are_one_line_errors(changes, words):
  c = ml_collections.ConfigDict(config_lib.load_config_file('configs/bert.py:size=mini').to_dict())
  c.model.attention_impl = 'splash'
  c.model.attention_dropout_rate = 0.0
  for key, value in changes.items():
    section, name = key.split('.')
    c[section][name] = value
  with pytest.raises(ConfigError) as e:
    validation.validate(c, 1)
  assert words in str(e.value) and '\n' not in str(e.value)
