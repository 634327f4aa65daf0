import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax import optim
from tests.conftest import tiny_config


def _train_cfg(**kw):
  c = tiny_config(**{f'train.{k}': v for k, v in kw.items()})
  return c.train


def test_warmup_then_linear_decay():
  s = optim.schedule(_train_cfg(steps=110, warmup_steps=10, learning_rate=1.0, decay='linear'))
  assert float(s(0)) == 0.0
  assert float(s(5)) == pytest.approx(0.5)
  assert float(s(10)) == pytest.approx(1.0)
  assert float(s(60)) == pytest.approx(0.5)
  assert float(s(110)) == pytest.approx(0.0, abs=1e-6)


def test_cosine_decay_to_end_fraction():
  s = optim.schedule(_train_cfg(steps=100, warmup_steps=0, learning_rate=2.0, decay='cosine',
                                end_lr_fraction=0.1))
  assert float(s(0)) == pytest.approx(2.0)
  assert float(s(50)) == pytest.approx(2.0 * (0.1 + 0.9 * 0.5), rel=1e-5)
  assert float(s(100)) == pytest.approx(0.2, rel=1e-5)


def test_warmup_longer_than_the_run_is_warned_with_the_rate_it_stops_at():
  cfg = _train_cfg(steps=1000, warmup_steps=10_000, learning_rate=1e-4)
  [warning] = optim.schedule_warnings(cfg)
  assert warning.startswith('warning: train.warmup_steps=10000 > train.steps=1000')
  stops_at = float(warning.split('stops at ')[1].split(',')[0])
  assert stops_at == pytest.approx(float(optim.schedule(cfg)(1000)), rel=1e-3)  # 1e-05
  assert not optim.schedule_warnings(_train_cfg(steps=1000, warmup_steps=1000))


def test_weight_decay_skips_biases_and_layer_norm():
  params = {'dense': {'kernel': jnp.ones((2, 2)), 'bias': jnp.ones(2)},
            'norm': {'scale': jnp.ones(2), 'bias': jnp.ones(2)},
            'embed': {'embedding': jnp.ones((3, 2))}}
  mask = optim.decay_mask(params)
  assert mask == {'dense': {'kernel': True, 'bias': False}, 'norm': {'scale': False, 'bias': False},
                  'embed': {'embedding': True}}
  tx = optim.make_optimizer(_train_cfg(learning_rate=0.1, warmup_steps=0, weight_decay=0.5,
                                       decay='constant', grad_clip_norm=0.0))
  zero = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zero, tx.init(params), params)
  assert float(updates['dense']['kernel'][0, 0]) == pytest.approx(-0.05)
  assert float(updates['dense']['bias'][0]) == 0.0
  assert float(updates['norm']['scale'][0]) == 0.0


def test_global_norm_clipping():
  tx = optim.make_optimizer(_train_cfg(grad_clip_norm=1.0, optimizer='lamb'))
  params = {'w': {'kernel': jnp.ones((4,))}}
  state = tx.init(params)
  big = {'w': {'kernel': jnp.full((4,), 100.0)}}
  updates, _ = tx.update(big, state, params)
  assert np.all(np.isfinite(np.asarray(updates['w']['kernel'])))
