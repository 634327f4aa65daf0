"""Every Orbax call lives here. Restore order: resume from WORKDIR > fresh init.

Layout: WORKDIR/checkpoints/<step>/ is Orbax's (train state, atomically committed);
WORKDIR/checkpoints/data_state/<step>/host_<i>_of_<n>.* is each host's input-iterator position,
written before the Orbax save of the same step starts, so a committed step always has it.
"""
import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from mlm_jax import fs, models, objectives, optim, sharding, state
from mlm_jax.config_lib import RUN_CONFIG, ConfigError

DATA_STATE = 'data_state'
# Orbax splits each replicated array among its replicas when saving, so that every host writes a
# part; each split is an eager slice compiled per shape and device (88 compiles, 2.8 s, at the
# first save of an 8-device smoke run). Below this size per part the split is not worth it.
MIN_REPLICA_SLICE_BYTES = 1 << 20


@functools.cache
def _register_array_handler() -> None:
  handler = ocp.type_handlers.ArrayHandler(
      min_slice_bytes_for_replica_parallel=MIN_REPLICA_SLICE_BYTES)
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)  # Orbax warns on every override, even a deliberate one
  try:
    ocp.type_handlers.register_type_handler(jax.Array, handler, override=True)
  finally:
    logging.set_verbosity(verbosity)


class Checkpointer:

  def __init__(self, workdir: str, keep: int, every_steps: int):
    _register_array_handler()
    self.directory = os.path.join(fs.absolute(workdir), 'checkpoints')
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=True,
                                             create=True),
        item_handlers={'state': ocp.StandardCheckpointHandler()})
    self._every = every_steps

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def _data_prefix(self, step: int) -> str:
    # Keyed by the process layout: an iterator state only fits the shard it was read from.
    return os.path.join(self.directory, DATA_STATE, str(step),
                        f'host_{jax.process_index()}_of_{jax.process_count()}')

  def save(self, step: int, state, data_iterator=None, force: bool = False) -> bool:
    """Saves asynchronously if STEP is due (or FORCE); returns whether a save started."""
    if not (force or step % self._every == 0):
      return False
    if data_iterator is not None:
      data_iterator.save(self._data_prefix(step))
    saved = self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)),
                               force=True)
    self._prune_data_states()
    return saved

  def _saved_tree(self, step: int):
    """The checkpoint's TrainState metadata tree (nothing restored)."""
    saved = self._manager.item_metadata(step)['state']
    return getattr(saved, 'tree', saved)

  @staticmethod
  def _objective_state_differs(tree, abstract_state) -> bool:
    """Whether checkpoint TREE lacks the objective state ABSTRACT_STATE expects: written before
    TrainState carried one, by a soup (which keeps none), or by another objective."""
    if not hasattr(abstract_state, 'objective_state'):
      return False
    if 'objective_state' not in tree:
      return True
    have = {path for path, _ in flat_paths(tree['objective_state'])}
    return have != {path for path, _ in flat_paths(abstract_state.objective_state)}

  def restore(self, step: int, abstract_state, data_iterator=None):
    tree = self._saved_tree(step)
    if not self._objective_state_differs(tree, abstract_state):
      restored = self._manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state)))['state']
    else:  # everything else restores; the objective's state starts afresh, from zeros
      target = {f.name: getattr(abstract_state, f.name) for f in dataclasses.fields(abstract_state)
                if f.name != 'objective_state'}
      if 'objective_state' in tree:  # what is on disk, read and dropped (Orbax restores whole trees)
        on_disk = target['step'].sharding
        target['objective_state'] = jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype, sharding=on_disk),
            tree['objective_state'], is_leaf=lambda m: hasattr(m, 'shape'))
      restored = dict(self._manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(target)))['state'])
      restored.pop('objective_state', None)
      fresh = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype, device=a.sharding),
                           abstract_state.objective_state)
      if jax.tree.leaves(fresh):
        print(f'warning: checkpoint {self.directory}/{step} has no objective state of this '
              'objective; it restarts from zeros', flush=True)
      restored = abstract_state.replace(**restored, objective_state=fresh)
    if data_iterator is not None and fs.glob(self._data_prefix(step) + '*'):
      data_iterator.restore(self._data_prefix(step))
    elif data_iterator is not None and fs.glob(os.path.join(self.directory, DATA_STATE,
                                                              str(step), 'host_*')):
      print(f'warning: step {step} was saved with another number of processes; the input '
            'pipeline starts its stream afresh (parameters and optimizer state are restored)',
            flush=True)
    return restored

  def restore_latest(self, abstract_state, data_iterator=None):
    """(step, state) of the newest checkpoint that restores, or (None, None).

    A damaged newest checkpoint (truncated or corrupted files) is skipped with a warning; a
    checkpoint of a different model shape is refused with one line naming the first tensor."""
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        self.check_shapes(step, abstract_state)
        return step, self.restore(step, abstract_state, data_iterator)
      except ConfigError:
        raise
      except Exception as e:  # pylint: disable=broad-except
        message = ' '.join(str(e).split())[:300]
        logging.warning('checkpoint %s/%d is damaged (%s); trying the previous one',
                        self.directory, step, message)
        print(f'warning: checkpoint {self.directory}/{step} is damaged; moved to '
              f'{self._quarantine(step)}; trying the previous one', flush=True)
    return None, None

  def _quarantine(self, step: int) -> str:
    """Moves a damaged step aside (kept for inspection) so a later save can reuse its number."""
    dest = os.path.join(os.path.dirname(self.directory), 'checkpoints_damaged', str(step))
    if jax.process_index() == 0:
      fs.makedirs(os.path.dirname(dest))
      fs.rmtree(dest)
      fs.move_tree(os.path.join(self.directory, str(step)), dest)
    sharding.wait_for_processes(f'quarantined {step}')  # others reload after the move
    self._manager.reload()
    return dest

  def check_shapes(self, step: int, abstract_state) -> None:
    saved = self._manager.item_metadata(step)['state']
    if saved is None:
      raise ValueError('unreadable checkpoint metadata')
    have = dict(flat_paths(saved))
    legacy = self._objective_state_differs(getattr(saved, 'tree', saved), abstract_state)
    for path, want in flat_paths(abstract_state):  # parameters come first in TrainState
      if legacy and path.startswith('objective_state/'):
        continue
      if path not in have:
        raise ConfigError(f'checkpoint {self.directory}/{step} has no tensor {path}')
      shape = tuple(getattr(have[path], 'shape', ()) or ())
      if tuple(want.shape) != shape:
        raise ConfigError(f'checkpoint {self.directory}/{step}: tensor {path} has shape {shape}, '
                          f'the model expects {tuple(want.shape)}')

  def _prune_data_states(self) -> None:
    keep = {str(s) for s in self._manager.all_steps()}
    root = os.path.join(self.directory, DATA_STATE)
    for name in fs.listdir(root) if fs.isdir(root) else []:
      if name not in keep and jax.process_index() == 0:
        pending = name.isdigit() and int(name) > max(map(int, keep), default=-1)
        if not pending:  # a save in flight is not yet listed by the manager
          fs.rmtree(os.path.join(root, name))

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def flat_paths(tree) -> list[tuple[str, object]]:
  """[('params/encoder/.../kernel', leaf), ...] in tree order."""
  leaves = jax.tree_util.tree_flatten_with_path(
      tree, is_leaf=lambda x: hasattr(x, 'shape') and not isinstance(x, dict))[0]
  return [('/'.join(path_key(k) for k in path), leaf) for path, leaf in leaves]


def path_key(k) -> str:
  for attr in ('key', 'name', 'idx'):
    if hasattr(k, attr):
      return str(getattr(k, attr))
  return str(k)


def one_device_abstract(config) -> tuple:
  """(optimizer, abstract TrainState) of CONFIG's model on one device, whatever mesh (DCN split
  included) the run used: what offline tools restore into."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.mesh.data, config.mesh.fsdp, config.mesh.tensor = 1, 1, 1
  config.mesh.dcn_data, config.mesh.dcn_fsdp = 1, 1
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  model = models.build(config.model)
  tx = optim.make_optimizer(config.train)
  init_objective_state = objectives.init_state_fn(config.objective)
  with jax.set_mesh(mesh):
    shardings = state.state_shardings(model, tx, config.data.seq_len, mesh,
                                      sharding.rules(config.mesh), init_objective_state)
  init_fn = state.make_init_fn(model, tx, config.data.seq_len, init_objective_state)
  return tx, state.abstract_state(init_fn, shardings)


def restore_params(config, workdir: str, step: int | None = None):
  """(parameters of STEP, default the latest, as numpy on the host; the step)."""
  _, abstract = one_device_abstract(config)
  ckpt = Checkpointer(workdir, keep=1, every_steps=1)
  step = ckpt.latest_step() if step is None else step
  if step is None:
    ckpt.close()
    raise ConfigError(f'{workdir}: no checkpoint')
  restored = ckpt.restore(step, abstract)
  ckpt.close()
  return jax.tree.map(np.asarray, jax.device_get(restored.params)), step


def write_fresh_workdir(out: str, config, params) -> None:
  """A new workdir OUT from PARAMS (host arrays): an Orbax checkpoint at step 0 with fresh
  optimizer state, and config.json; `mlm_jax.main --workdir=OUT` continues training from it.
  (The caller records the vocabulary.)"""
  tx, abstract = one_device_abstract(config)
  placed = jax.tree.map(lambda x, a: jax.device_put(jnp.asarray(x), a.sharding), params,
                        abstract.params)
  fs.makedirs(out)
  ckpt = Checkpointer(out, keep=1, every_steps=1)
  ckpt.save(0, state.new_state(placed, tx), force=True)
  ckpt.close()
  fs.write_text(os.path.join(out, RUN_CONFIG), config.to_json(indent=2))


def restore_dense_params(config, workdir: str, step: int | None = None):
  """restore_params with every SLTrain matrix formed into its dense kernel (models/low_rank.py),
  shaped as the dense twin's: what exports write. Other runs: restore_params."""
  params, step = restore_params(config, workdir, step)
  if not config.model.get('sltrain_rank'):
    return params, step
  from mlm_jax.models import low_rank  # pylint: disable=g-import-not-at-top
  dense_cfg = ml_collections.ConfigDict(config.model.to_dict())
  dense_cfg.sltrain_rank = 0
  twin = jax.eval_shape(lambda r: state.init_variables(models.build(dense_cfg),
                                                       config.data.seq_len, r),
                        jax.random.key(0))
  shapes = {'/'.join(str(getattr(k, 'key', k)) for k in path[:-1]): leaf.value.shape
            for path, leaf in jax.tree_util.tree_leaves_with_path(
                twin, is_leaf=lambda x: hasattr(x, 'value'))
            if str(getattr(path[-1], 'key', '')) == 'kernel'}
  return low_rank.materialize(params, config.model, shapes), step


def describe(workdir: str, step: int | None = None) -> dict:
  """What a checkpoint holds, from Orbax's metadata (nothing is restored): its step, the steps
  on disk, every leaf's path, shape, dtype and bytes, and the totals per top-level part."""
  directory = os.path.join(fs.absolute(workdir), 'checkpoints')
  if not fs.isdir(directory):
    raise ConfigError(f'{workdir}: no checkpoints directory')
  manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(create=False),
                                  item_handlers={'state': ocp.StandardCheckpointHandler()})
  steps = list(manager.all_steps())
  step = steps[-1] if step is None and steps else step
  if step not in steps:
    manager.close()
    raise ConfigError(f'{workdir}: no checkpoint of step {step} (steps on disk: {steps})')
  tree = manager.item_metadata(step)['state']
  manager.close()
  leaves = []
  for path, meta in flat_paths(getattr(tree, 'tree', tree)):
    size = int(np.prod(meta.shape, dtype=np.int64)) * np.dtype(meta.dtype).itemsize
    leaves.append({'path': path, 'shape': list(meta.shape), 'dtype': str(np.dtype(meta.dtype)),
                   'bytes': size})
  parts = {}
  for leaf in leaves:
    part = leaf['path'].split('/')[0]
    parts[part] = parts.get(part, 0) + leaf['bytes']
  on_disk = fs.walk_sizes(os.path.join(directory, str(step)))
  return {'workdir': workdir, 'step': step, 'steps': steps, 'leaves': leaves,
          'bytes_by_part': parts, 'bytes': sum(parts.values()), 'bytes_on_disk': on_disk}
