"""Every Orbax call lives here. Restore order: resume from WORKDIR > fresh init.

Layout: WORKDIR/checkpoints/<step>/ is Orbax's (train state, atomically committed);
WORKDIR/checkpoints/data_state/<step>/host_<i>.* is each host's input-iterator position,
written before the Orbax save of the same step starts, so a committed step always has it.
"""
import glob
import os
import shutil

import jax
import orbax.checkpoint as ocp

DATA_STATE = 'data_state'


class Checkpointer:

  def __init__(self, workdir: str, keep: int, every_steps: int):
    self.directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=True,
                                             create=True))
    self._every = every_steps

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def _data_prefix(self, step: int) -> str:
    return os.path.join(self.directory, DATA_STATE, str(step), f'host_{jax.process_index()}')

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

  def restore(self, step: int, abstract_state, data_iterator=None):
    restored = self._manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state)))
    if data_iterator is not None and glob.glob(self._data_prefix(step) + '*'):
      data_iterator.restore(self._data_prefix(step))
    return restored['state']

  def _prune_data_states(self) -> None:
    keep = {str(s) for s in self._manager.all_steps()}
    root = os.path.join(self.directory, DATA_STATE)
    for name in os.listdir(root) if os.path.isdir(root) else []:
      if name not in keep and jax.process_index() == 0:
        pending = name.isdigit() and int(name) > max(map(int, keep), default=-1)
        if not pending:  # a save in flight is not yet listed by the manager
          shutil.rmtree(os.path.join(root, name), ignore_errors=True)

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
