import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from mlm_jax import models, optim, sharding, state
from mlm_jax.config_lib import ConfigError
from tests.conftest import tiny_config


def test_mesh_shape_resolves_minus_one():
  c = tiny_config(**{'mesh.data': -1, 'mesh.fsdp': 2, 'mesh.tensor': 1})
  assert sharding.mesh_shape(c.mesh, 8) == (4, 2, 1)
  with pytest.raises(ConfigError, match='mesh'):
    sharding.mesh_shape(tiny_config(**{'mesh.data': 3}).mesh, 8)
  with pytest.raises(ConfigError, match='at most one'):
    sharding.mesh_shape(tiny_config(**{'mesh.fsdp': -1}).mesh, 8)


def test_dcn_split_multiplies_the_per_slice_mesh():
  c = tiny_config(**{'mesh.data': -1, 'mesh.fsdp': 2, 'mesh.dcn_data': 2})
  assert sharding.mesh_shape(c.mesh, 8) == (4, 2, 1)  # per slice (2, 2, 1) x dcn (2, 1, 1)
  with pytest.raises(ConfigError, match='dcn'):
    sharding.mesh_shape(tiny_config(**{'mesh.dcn_data': 3}).mesh, 8)


def test_fsdp_and_tensor_shard_parameters_and_optimizer_state():
  c = tiny_config(**{'mesh.data': 2, 'mesh.fsdp': 2, 'mesh.tensor': 2})
  mesh = sharding.make_mesh(c.mesh)
  model = models.MODELS['bert'].module(c.model)
  tx = optim.make_optimizer(c.train)
  with jax.set_mesh(mesh):
    sh = state.state_shardings(model, tx, c.data.seq_len, mesh, sharding.rules(c.mesh))
  q = sh.params['encoder']['layers_0']['attention']['query']['kernel']
  assert q.spec == P('fsdp', 'tensor', None)
  adam_mu = sh.opt_state[1][0].mu['encoder']['layers_0']['mlp']['wi']['kernel']
  assert adam_mu.spec == P('fsdp', 'tensor')
  assert sh.step.spec == P()


def test_host_batch_to_global_splits_over_data_axes():
  c = tiny_config(**{'mesh.data': 4, 'mesh.fsdp': 2})
  mesh = sharding.make_mesh(c.mesh)
  batch = {'input_ids': np.arange(16 * 4, dtype=np.int32).reshape(16, 4)}
  out = sharding.host_batch_to_global(batch, mesh, 16)
  arr = out['input_ids']
  assert arr.shape == (16, 4) and len(arr.addressable_shards) == 8
  assert all(s.data.shape == (2, 4) for s in arr.addressable_shards)
  np.testing.assert_array_equal(np.asarray(arr), batch['input_ids'])
  assert sharding.data_parallel_size(mesh) == 8


def test_data_shard_single_process_reads_everything():
  for axes in ({'mesh.data': 8}, {'mesh.data': 2, 'mesh.tensor': 4}, {'mesh.fsdp': 8}):
    mesh = sharding.make_mesh(tiny_config(**axes).mesh)
    assert sharding.data_shard(mesh, 16) == (0, 1)
