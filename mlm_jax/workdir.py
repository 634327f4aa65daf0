"""The run's working directory: checked before anything is compiled, and left as it was found
when a run fails before its loop starts (no stray config.json, corpus or vocabulary)."""
import contextlib
import os
import uuid

from mlm_jax import fs
from mlm_jax.config_lib import ConfigError


def check(workdir: str, shared: bool = False) -> None:
  """One-line ConfigError unless WORKDIR is (or can be made) a writable directory.

  Nothing is left behind: a directory created to test writability is removed again, unless
  SHARED (several processes of one run check the same workdir at once: one may be probing
  inside a directory another created, so created directories stay)."""
  if not workdir:
    raise ConfigError('--workdir must name a directory')
  if fs.is_remote(workdir):  # gs://: an object written and deleted again says it all
    # Unique per host and call: the hosts of a pod probe the same workdir at once.
    probe = os.path.join(workdir, f'.mlm_jax_write_probe.{uuid.uuid4().hex}')
    try:
      fs.write_text(probe, '')
      fs.remove(probe)
    except Exception as e:  # pylint: disable=broad-except  # TF's NotFound, PermissionDenied...
      message = ' '.join(str(e).split())[:200]
      raise ConfigError(f'--workdir={workdir}: not writable ({type(e).__name__}: {message})'
                        ) from None
    return
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f'--workdir={workdir} is a file, not a directory')
  ancestor = os.path.abspath(workdir)
  while not os.path.exists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    raise ConfigError(f'--workdir={workdir}: {ancestor} is a file, not a directory')
  created = []
  try:
    path = os.path.abspath(workdir)
    missing = []
    while not os.path.exists(path):
      missing.append(path)
      path = os.path.dirname(path)
    for d in reversed(missing):
      try:
        os.mkdir(d)
      except FileExistsError:  # another process of the run made it first
        continue
      created.append(d)
    probe = os.path.join(workdir, f'.mlm_jax_write_probe.{os.getpid()}')
    with open(probe, 'w', encoding='utf-8'):
      pass
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f'--workdir={workdir}: not writable ({e.strerror or type(e).__name__})'
                      ) from None
  finally:
    for d in reversed(created if not shared else []):
      with contextlib.suppress(OSError):
        os.rmdir(d)


class DryRunDone(Exception):
  """Ends a dry run after its checks; what it wrote is removed like a failed start's."""


class _Setup:
  """Handed out by `removed_on_error`; `finished()` marks the end of setup."""

  def __init__(self):
    self.done = False

  def finished(self) -> None:
    self.done = True


@contextlib.contextmanager
def removed_on_error(workdir: str):
  """Removes what the enclosed setup created in WORKDIR (or WORKDIR itself, if it created it)
  when it raises before `setup.finished()`; after that (training has started, checkpoints may
  exist) nothing is removed. Entries that were there before are never touched."""
  setup = _Setup()
  existed = fs.isdir(workdir)
  before = set(fs.listdir(workdir)) if existed else set()
  try:
    yield setup
  except BaseException:
    if not setup.done:
      _remove_new(workdir, existed, before)
    raise


def _remove_new(workdir: str, existed: bool, before: set[str]) -> None:
  if not existed:
    fs.rmtree(workdir)
    return
  for name in set(fs.listdir(workdir)) - before if fs.isdir(workdir) else ():
    path = os.path.join(workdir, name)
    if fs.isdir(path) and not os.path.islink(path):
      fs.rmtree(path)
    else:
      with contextlib.suppress(Exception):
        fs.remove(path)
