"""SIGTERM (TPU maintenance, spot/SLURM preemption) -> every process checkpoints the same step.

One process: a Python handler sets an event; the loop finishes its step, checkpoints, leaves.
Several processes: a host that sees SIGTERM at step s while another is already at s+1 would
run a different collective than its peers and hang. JAX's preemption service (started by
`jax.distributed.initialize`, it catches SIGTERM itself) agrees on one sync step for all
processes; `multihost_utils.reached_preemption_sync_point` is True on every host at that step,
whichever host received the signal. The Python handler is then not installed: it would
replace the service's.
"""
import contextlib
import signal
import threading

import jax


class Preempted(SystemExit):
  """Raised once a run stopped for SIGTERM has written its checkpoint. The process leaves with
  code 0 (what launchers expect of a preempted run), and a caller that chains runs (a sweep, the
  shoot-out, LT-SFT's two phases) stops there instead of going on from a half-trained model."""

  def __init__(self, step: int):
    super().__init__(0)
    self.step = step


class Preemption:
  """`reached(step)`: stop after this step. Call it once per step on every process, in order."""

  def __init__(self, event: threading.Event | None):
    self._event = event

  def reached(self, step: int) -> bool:
    if self._event is None:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      return multihost_utils.reached_preemption_sync_point(step)
    return self._event.is_set()


def _service_running() -> bool:
  from jax._src import distributed  # pylint: disable=g-import-not-at-top
  return jax.process_count() > 1 and distributed.global_state.preemption_sync_manager is not None


@contextlib.contextmanager
def guard():
  if _service_running():
    yield Preemption(None)
    return
  event = threading.Event()
  if threading.current_thread() is not threading.main_thread():  # signals reach the main thread
    yield Preemption(event)
    return
  previous = signal.signal(signal.SIGTERM, lambda *_: event.set())
  try:
    yield Preemption(event)
  finally:
    signal.signal(signal.SIGTERM, previous)
