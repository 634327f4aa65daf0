"""ELECTRA layer-wise LR decay: depths from parameter paths, scanned stacks, and the update."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mlm_jax.finetune import layer_decay


def _tree(scanned=False):
  layers = ({'layers': {'w': np.ones((3, 2, 2))}} if scanned else
            {f'layers_{i}': {'w': np.ones((2, 2))} for i in range(3)})
  return {'backbone': {'embeddings': {'w': np.ones(2)}, 'encoder': layers},
          'head': {'dense': {'kernel': np.ones((2, 2))}}}


def test_scales_follow_electra_depths():
  s = layer_decay.scales(_tree(), num_layers=3, decay=0.8)
  assert s['head']['dense']['kernel'] == pytest.approx(1.0)
  assert s['backbone']['encoder']['layers_2']['w'] == pytest.approx(0.8 ** 2)
  assert s['backbone']['encoder']['layers_0']['w'] == pytest.approx(0.8 ** 4)
  assert s['backbone']['embeddings']['w'] == pytest.approx(0.8 ** 5)


def test_scanned_stack_gets_one_scale_per_layer():
  s = layer_decay.scales(_tree(scanned=True), num_layers=3, decay=0.5)
  np.testing.assert_allclose(s['backbone']['encoder']['layers']['w'][:, 0, 0],
                             [0.5 ** 4, 0.5 ** 3, 0.5 ** 2])


def test_update_is_scaled():
  params = jax.tree.map(jnp.asarray, _tree())
  scale = layer_decay.scales(params, 3, 0.8)
  tx = optax.chain(optax.sgd(1.0), layer_decay.scale_updates(scale))
  updates, _ = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params), params)
  assert float(updates['backbone']['embeddings']['w'][0]) == pytest.approx(-(0.8 ** 5))
  assert float(updates['head']['dense']['kernel'][0, 0]) == pytest.approx(-1.0)
