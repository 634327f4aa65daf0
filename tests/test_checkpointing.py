import os

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow as tf
from jax.sharding import NamedSharding, PartitionSpec as P

from mlm_jax import checkpointing, sharding
from mlm_jax.data.pipeline import BatchIterator
from tests.conftest import tiny_config


def _iterator():
  return BatchIterator(tf.data.Dataset.range(100).map(lambda x: {'x': x}).shuffle(20, seed=1))


def test_save_restore_round_trip_with_data_position_and_resharding(tmp_path):
  mesh = sharding.make_mesh(tiny_config(**{'mesh.data': 8}).mesh)
  row = NamedSharding(mesh, P('data'))
  state = {'w': jax.device_put(jnp.arange(32.0).reshape(8, 4), row), 'step': jnp.array(10)}
  it = _iterator()
  for _ in range(5):
    next(it)
  ckpt = checkpointing.Checkpointer(str(tmp_path), keep=2, every_steps=10)
  assert not ckpt.save(7, state, it)  # not due
  assert ckpt.save(10, state, it)
  expected_next = next(it)['x']
  ckpt.close()

  fresh = checkpointing.Checkpointer(str(tmp_path), keep=2, every_steps=10)
  assert fresh.latest_step() == 10
  other = NamedSharding(sharding.make_mesh(tiny_config(**{'mesh.data': 2, 'mesh.fsdp': 4}).mesh),
                        P(None, 'fsdp'))
  abstract = {'w': jax.ShapeDtypeStruct((8, 4), jnp.float32, sharding=other),
              'step': jax.ShapeDtypeStruct((), jnp.int32,
                                           sharding=NamedSharding(mesh, P()))}
  it2 = _iterator()
  restored = fresh.restore(10, abstract, it2)
  np.testing.assert_array_equal(np.asarray(restored['w']), np.arange(32.0).reshape(8, 4))
  assert restored['w'].sharding.spec == P(None, 'fsdp')
  assert next(it2)['x'] == expected_next
  fresh.close()


def test_keeps_k_checkpoints_and_their_data_states(tmp_path):
  state = {'w': jnp.ones(3)}
  ckpt = checkpointing.Checkpointer(str(tmp_path), keep=2, every_steps=1)
  it = _iterator()
  for step in (1, 2, 3, 4):
    next(it)
    ckpt.save(step, state, it)
    ckpt.wait()
  ckpt.close()
  steps = sorted(int(d) for d in os.listdir(tmp_path / 'checkpoints') if d.isdigit())
  assert steps == [3, 4]
  data = sorted(os.listdir(tmp_path / 'checkpoints' / checkpointing.DATA_STATE))
  assert set(data) <= {'3', '4'} and '4' in data


def test_small_replicated_arrays_save_without_compiling(tmp_path, caplog):
  # Orbax's replica-parallel save slices each replica's copy in an eager op compiled per shape
  # and device: 8 compiles per small parameter at the first save, for nothing.
  mesh = sharding.make_mesh(tiny_config(**{'mesh.data': 8}).mesh)
  replicated = NamedSharding(mesh, P())
  state = {'b': jax.device_put(jnp.arange(40.0).reshape(8, 5), replicated),
           'g': jax.device_put(jnp.ones(24), replicated)}
  ckpt = checkpointing.Checkpointer(str(tmp_path), keep=1, every_steps=1)
  with caplog.at_level('WARNING'), jax.log_compiles():
    ckpt.save(1, state)
    ckpt.wait()
  compiled = [r.getMessage() for r in caplog.records if 'Compiling' in r.getMessage()]
  assert not compiled, compiled
  restored = ckpt.restore(1, jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), state))
  np.testing.assert_array_equal(np.asarray(restored['b']), np.arange(40.0).reshape(8, 5))
  ckpt.close()
