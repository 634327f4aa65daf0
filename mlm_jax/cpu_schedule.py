"""train.cpu_schedule: the order XLA:CPU runs a step's operations in.

'concurrency' is XLA's default (ops ordered so independent ones run at once); 'memory' turns
that scheduler off, so the step is ordered to keep fewer temporaries live. Measured (README,
"Where the memory goes", 2-core AMD EPYC, under mimalloc): BERT-base batch 8 peak memory -12%
at equal speed, ModernBERT-base -5% to -8% and MosaicBERT-base -5% to -6% at equal speed, but
the demo's 4 x 192 encoder 10% slower and BERT-mini 2-3% slower — hence a per-config choice
(configs/bert.py, modernbert.py and mosaicbert.py take 'memory' from base size up).

XLA reads XLA_FLAGS once per process, when JAX first initialises its backend, and ignores this
flag as a per-jit compiler option (the temporaries stay the same: checked with
memory_analysis()). So mlm_jax.main and tools/benchmark.py apply the config's choice before
any JAX call; the training and fine-tuning loops name a mismatch in one line (the shoot-out
tools train several configs in one process and keep XLA's default). Accelerators ignore it.
"""
import os

from mlm_jax.config_lib import ConfigError

CHOICES = ('concurrency', 'memory')
FLAG = '--xla_cpu_enable_concurrency_optimized_scheduler'


def check(choice: str) -> None:
  """One line naming the key where CHOICE is not a schedule (validation.validate too)."""
  if choice not in CHOICES:
    raise ConfigError(f'train.cpu_schedule={choice!r} must be one of {"|".join(CHOICES)}')


def xla_flags(current: str, choice: str) -> str:
  """CURRENT XLA_FLAGS with CHOICE applied; a setting of the flag already there stands."""
  check(choice)
  if choice == 'concurrency' or FLAG in current:
    return current
  return f'{current} {FLAG}=false'.strip()


def apply(choice: str) -> None:
  """Sets XLA_FLAGS for CHOICE in this process: call before JAX's first device query."""
  os.environ['XLA_FLAGS'] = xla_flags(os.environ.get('XLA_FLAGS', ''), choice)


def active(environ=None) -> str:
  """The schedule this process's XLA_FLAGS ask for (the last setting of the flag wins)."""
  environ = os.environ if environ is None else environ
  setting = [f.split('=', 1)[-1].lower() for f in environ.get('XLA_FLAGS', '').split()
             if f.split('=', 1)[0] == FLAG]
  return 'memory' if setting and setting[-1] in ('false', '0') else 'concurrency'


def mismatch(choice: str) -> str | None:
  """A one-line note where the config asks for another schedule than this process runs (CPU
  only), else None."""
  import jax  # pylint: disable=g-import-not-at-top  (this module is imported before jax)
  running = active()
  if jax.default_backend() != 'cpu' or choice == running:
    return None
  return (f'note: train.cpu_schedule={choice} not applied: this process runs XLA:CPU\'s '
          f'{running} schedule, fixed at its start (set it through mlm_jax.main, or '
          f'XLA_FLAGS={FLAG}={"false" if choice == "memory" else "true"})')
