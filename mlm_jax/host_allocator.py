"""CPU runs under mimalloc: the entry points re-execute themselves with it preloaded.

Why (measured, README "Per-step buffers"): XLA:CPU takes each step's temporaries from malloc
in one block (~1 GB at BERT-mini, batch 32; ~2 GB at BERT-base, batch 8). glibc maps a block
that large fresh and unmaps it when the step ends, so every step faults ~1 GB back in, zeroed:
about a fifth of the step's CPU time. mimalloc keeps the freed block in its arena and hands it
to the next step whole, provided (each measured):
- the arena can hold it (MIMALLOC_ARENA_RESERVE and MIMALLOC_ARENA_MAX_OBJECT_SIZE: half the
  machine's memory; mimalloc maps blocks above 2 GiB directly by default, and ModernBERT-base's
  was, 690,000 faults per step);
- no transparent huge pages (MIMALLOC_ALLOW_THP=0: with them some steps took 2.3x as long);
- one step's block is live at a time: the training loops wait for each CPU step and pause
  2 ms, so the finished step's block is freed (on XLA's worker thread, just after its outputs
  are ready) before the next step asks; otherwise some runs keep a second block (BERT-base
  peak 6.0 instead of 4.2 GB).
Then +20-30% tokens/s at glibc's peak memory.

Linux only (LD_PRELOAD); accelerator hosts keep the system allocator (their step buffers live
on the device). MLM_JAX_ALLOCATOR=system opts out.
"""
import glob
import os
import sys
import time

ENV = 'MLM_JAX_ALLOCATOR'  # mimalloc (default) or system
PURGE_DELAY_MS = '5000'  # longer than a step: the freed block is still there for the next one
FREE_PAUSE_S = 0.002  # after a step's outputs are ready, until its temporaries are freed


def library() -> str | None:
  """libmimalloc.so from the cmeel-mimalloc wheel, or None where it is not installed."""
  try:
    from importlib import metadata  # pylint: disable=g-import-not-at-top
    path = str(metadata.distribution('cmeel-mimalloc').locate_file(
        'cmeel.prefix/lib/libmimalloc.so'))
  except metadata.PackageNotFoundError:
    return None
  return path if os.path.exists(path) else None


def _accelerator_host(environ) -> bool:
  platforms = environ.get('JAX_PLATFORMS', '')
  if platforms:
    return platforms != 'cpu'
  return bool(glob.glob('/dev/nvidia[0-9]*') or glob.glob('/dev/accel[0-9]*')
              or glob.glob('/dev/vfio/[0-9]*'))  # GPUs; TPU v4 and v5e/v6e hosts


def _memory_bytes() -> int:
  return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def plan(environ, lib: str | None, platform: str = sys.platform,
         accelerator: bool | None = None, memory_bytes: int | None = None) -> dict | None:
  """The environment to re-execute under, or None to run as is."""
  choice = environ.get(ENV, 'mimalloc')
  if choice not in ('mimalloc', 'system'):
    raise ValueError(f'{ENV}={choice!r}: expected mimalloc or system')
  if choice == 'system' or lib is None or not platform.startswith('linux'):
    return None
  preload = environ.get('LD_PRELOAD', '')
  if lib in preload.split(':'):
    return None  # already running under it
  if accelerator is None:
    accelerator = _accelerator_host(environ)
  if accelerator:
    return None
  if memory_bytes is None:
    memory_bytes = _memory_bytes()
  env = dict(environ)
  env['LD_PRELOAD'] = f'{lib}:{preload}' if preload else lib
  for key, value in mimalloc_options(memory_bytes).items():
    env.setdefault(key, value)  # the user's own settings stand
  return env


def mimalloc_options(memory_bytes: int) -> dict[str, str]:
  # Arenas of half the memory that may hold a block that large (mimalloc maps blocks above
  # 2 GiB directly by default: ModernBERT-base's step was not reused); sizes need a unit.
  half = f'{max(1, memory_bytes // 2**31)}GiB'
  return {'MIMALLOC_PURGE_DELAY': PURGE_DELAY_MS, 'MIMALLOC_ALLOW_THP': '0',
          'MIMALLOC_ARENA_RESERVE': half, 'MIMALLOC_ARENA_MAX_OBJECT_SIZE': half}


def maybe_reexec() -> None:
  """Replaces this process with itself under mimalloc where plan() says so. Call it first
  thing in an entry point (before heavy imports: they would be paid twice)."""
  try:
    env = plan(os.environ, library())
  except ValueError as e:
    sys.exit(f'error: {e}')
  if env is not None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, env)


def loaded() -> bool:
  """Whether this process runs under mimalloc (mapped into it)."""
  try:
    with open('/proc/self/maps', encoding='utf-8') as f:
      return 'libmimalloc' in f.read()
  except OSError:
    return False


def name() -> str:
  """'mimalloc' or 'system': what this process allocates with (recorded by the benchmark)."""
  return 'mimalloc' if loaded() else 'system'


def one_step_at_a_time() -> bool:
  """Whether training loops wait for each step before dispatching the next (wait_for_step):
  on CPU, so only one step's temporaries are live and the kept block is reused (back to back
  under mimalloc: BERT-mini 0.25-0.29 MFU against 0.52-0.54 waited; under glibc waiting costs
  nothing measured). Accelerators keep dispatching ahead."""
  import jax  # pylint: disable=g-import-not-at-top  (this module is imported before jax)
  return jax.default_backend() == 'cpu'


def wait_for_step(tree) -> None:
  """Blocks until TREE (a step's outputs) is ready, then gives XLA's worker thread 2 ms to free
  that step's temporaries (it does so just after the outputs are marked ready)."""
  import jax  # pylint: disable=g-import-not-at-top
  jax.block_until_ready(tree)
  time.sleep(FREE_PAUSE_S)
