"""Device mesh from config, logical-axis rules, and batch shardings."""
import math
from collections.abc import Sequence

import jax
import ml_collections
import numpy as np
from flax import linen as nn
from jax.sharding import NamedSharding, PartitionSpec as P

from mlm_jax.config_lib import ConfigError

MESH_AXES = ('data', 'fsdp', 'tensor')
BATCH_AXES = ('data', 'fsdp')  # the data-parallel axes a batch is split over


def dcn_shape(mesh_cfg: ml_collections.ConfigDict) -> tuple[int, int, int]:
  return (int(mesh_cfg.dcn_data), int(mesh_cfg.dcn_fsdp), 1)


def mesh_shape(mesh_cfg: ml_collections.ConfigDict, num_devices: int) -> tuple[int, ...]:
  """The full mesh shape: per-slice sizes (at most one -1) times the DCN split."""
  dcn = dcn_shape(mesh_cfg)
  if min(dcn) < 1 or num_devices % math.prod(dcn):
    raise ConfigError(f'mesh.dcn_data x mesh.dcn_fsdp = {math.prod(dcn)} must be positive and '
                      f'divide {num_devices} devices')
  ici = ici_shape(mesh_cfg, num_devices // math.prod(dcn))
  return tuple(i * d for i, d in zip(ici, dcn))


def ici_shape(mesh_cfg: ml_collections.ConfigDict, num_devices: int) -> tuple[int, ...]:
  """Resolves at most one -1 axis so the product equals the (per-slice) device count."""
  sizes = [int(mesh_cfg[a]) for a in MESH_AXES]
  if sizes.count(-1) > 1:
    raise ConfigError(f'mesh: at most one axis may be -1, got {dict(zip(MESH_AXES, sizes))}')
  for axis, size in zip(MESH_AXES, sizes):
    if size == 0 or size < -1:
      raise ConfigError(f'mesh.{axis}={size} must be positive or -1')
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if num_devices % known:
      raise ConfigError(f'mesh sizes {dict(zip(MESH_AXES, sizes))} do not divide '
                        f'{num_devices} devices')
    sizes[sizes.index(-1)] = num_devices // known
  if math.prod(sizes) != num_devices:
    raise ConfigError(f'mesh {dict(zip(MESH_AXES, sizes))} needs {math.prod(sizes)} devices, '
                      f'have {num_devices}')
  return tuple(sizes)


def make_mesh(mesh_cfg: ml_collections.ConfigDict,
              devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
  devices = list(devices if devices is not None else jax.devices())
  shape = mesh_shape(mesh_cfg, len(devices))
  dcn = dcn_shape(mesh_cfg)
  if math.prod(dcn) > 1:  # slices (TPU) or processes (GPU/CPU) are the DCN granules
    from jax.experimental import mesh_utils  # pylint: disable=g-import-not-at-top
    ici = ici_shape(mesh_cfg, len(devices) // math.prod(dcn))
    grid = mesh_utils.create_hybrid_device_mesh(
        ici, dcn, devices, process_is_granule=devices[0].platform != 'tpu')
    return jax.sharding.Mesh(grid, MESH_AXES, axis_types=(jax.sharding.AxisType.Auto,) * 3)
  if devices == jax.devices():
    return jax.make_mesh(shape, MESH_AXES, axis_types=(jax.sharding.AxisType.Auto,) * 3)
  return jax.sharding.Mesh(np.array(devices).reshape(shape), MESH_AXES,
                           axis_types=(jax.sharding.AxisType.Auto,) * 3)


def rules(mesh_cfg: ml_collections.ConfigDict) -> tuple:
  return tuple((name, tuple(axes) if isinstance(axes, list) else axes)
               for name, axes in mesh_cfg.rules)


def logical_to_sharding(specs, mesh: jax.sharding.Mesh, axis_rules):
  """Pytree of logical PartitionSpecs -> pytree of NamedShardings."""
  return nn.logical_to_mesh_sharding(specs, mesh, axis_rules)


def batch_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
  """Leading (batch) axis split over the data-parallel axes, the rest replicated."""
  return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_parallel_size(mesh: jax.sharding.Mesh) -> int:
  return math.prod(mesh.shape[a] for a in BATCH_AXES)


def data_shard(mesh: jax.sharding.Mesh, global_batch: int) -> tuple[int, int]:
  """(index, count) of the input shard this process must read: the distinct row blocks the
  batch sharding gives the processes. Processes that hold the same rows (e.g. tensor
  parallelism across hosts) read the same shard."""
  rows_of = {}
  for device, index in batch_sharding(mesh).devices_indices_map((global_batch,)).items():
    start, stop, _ = index[0].indices(global_batch)
    lo, hi = rows_of.get(device.process_index, (start, stop))
    rows_of[device.process_index] = (min(lo, start), max(hi, stop))
  blocks = sorted(set(rows_of.values()))
  for (_, hi), (lo, _) in zip(blocks, blocks[1:]):
    if hi > lo:
      raise ConfigError('mesh: processes hold overlapping, non-identical batch rows; reorder '
                        'the mesh so each process holds one contiguous block of rows')
  return blocks.index(rows_of[jax.process_index()]), len(blocks)


def host_batch_to_global(batch: dict, mesh: jax.sharding.Mesh, global_batch: int) -> dict:
  """This host's rows -> one global jax.Array per feature (the only host->device path)."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v, (global_batch, *v.shape[1:]))
          for k, v in batch.items()}


def wait_for_processes(name: str, timeout_s: int = 1800) -> None:
  """Every process waits here for the others (the coordination service's barrier, not a
  collective). Called after compiling: processes compile at different speeds, and a CPU
  (gloo) collective gives up after 30 s if one arrives that much later than another."""
  if jax.process_count() > 1:
    from orbax.checkpoint import multihost  # pylint: disable=g-import-not-at-top
    multihost.get_barrier_sync_fn()(key=f'mlm_jax:{name}', timeout_ms=timeout_s * 1000)

