"""train.cpu_schedule: XLA:CPU's memory-minimising step order, applied through XLA_FLAGS before
JAX starts; a bad value is one line; a process that cannot apply it says so."""
import os
import subprocess
import sys

import pytest

from mlm_jax import config_lib, cpu_schedule
from tests.conftest import REPO, smoke_cli

FLAG = cpu_schedule.FLAG


def test_memory_adds_the_flag_concurrency_and_the_users_own_setting_leave_flags_as_they_are():
  assert cpu_schedule.xla_flags('', 'memory') == f'{FLAG}=false'
  assert cpu_schedule.xla_flags('--a=1', 'memory') == f'--a=1 {FLAG}=false'
  assert cpu_schedule.xla_flags('--a=1', 'concurrency') == '--a=1'
  assert cpu_schedule.xla_flags(f'{FLAG}=true', 'memory') == f'{FLAG}=true'  # the user's stands


def test_active_reads_the_last_setting_of_the_flag():
  assert cpu_schedule.active({}) == 'concurrency'
  assert cpu_schedule.active({'XLA_FLAGS': f'--a=1 {FLAG}=false'}) == 'memory'
  assert cpu_schedule.active({'XLA_FLAGS': f'{FLAG}=false {FLAG}=true'}) == 'concurrency'


def test_an_unknown_schedule_names_the_key():
  with pytest.raises(config_lib.ConfigError, match=r"train.cpu_schedule='fast' must be one of "
                                                   r'concurrency\|memory'):
    cpu_schedule.xla_flags('', 'fast')


def _temporaries(choice: str) -> int:
  """Bytes of temporaries XLA:CPU gives a step of 8 independent branches, in a process that
  applied CHOICE before JAX started."""
  probe = ('import sys\n'
           'from mlm_jax import cpu_schedule\n'
           f'cpu_schedule.apply({choice!r})\n'
           'import jax, jax.numpy as jnp\n'
           'f = lambda x, ws: sum(jnp.tanh(x @ w).sum() for w in ws)\n'
           'ws = [jnp.full((256, 1024), i / 10.) for i in range(8)]\n'
           'c = jax.jit(jax.grad(f, argnums=1)).lower(jnp.ones((256, 256)), ws).compile()\n'
           'print(c.memory_analysis().temp_size_in_bytes)\n')
  out = subprocess.run([sys.executable, '-c', probe], cwd=REPO, capture_output=True, text=True,
                       timeout=120, env={**{k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'},
                                           'JAX_PLATFORMS': 'cpu'})
  assert out.returncode == 0, out.stderr[-2000:]
  return int(out.stdout.split()[-1])


def test_the_memory_schedule_keeps_fewer_temporaries_live():
  concurrency, memory = _temporaries('concurrency'), _temporaries('memory')
  assert memory < concurrency / 2, (memory, concurrency)  # 1 MiB against 4 MiB here


def test_the_larger_recipes_take_the_memory_schedule_and_the_small_ones_keep_xlas():
  load = lambda spec: config_lib.load_config_file(spec, REPO).train.cpu_schedule  # noqa: E731
  assert load('configs/bert.py:size=base') == load('configs/modernbert.py:size=base') == 'memory'
  assert load('configs/mosaicbert.py:size=base') == 'memory'
  assert load('configs/bert.py:size=mini') == load('configs/demo.py') == 'concurrency'


def test_main_refuses_an_unknown_schedule_in_one_line(shared_vocab, tmp_path):
  args, env = smoke_cli(shared_vocab, tmp_path / 'run', '--config.train.cpu_schedule=fast')
  out = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
  assert out.returncode == 2
  assert out.stderr.strip().splitlines() == [
      "error: train.cpu_schedule='fast' must be one of concurrency|memory"]
  assert not (tmp_path / 'run').exists()


def test_a_process_already_running_another_schedule_names_the_mismatch():
  import jax  # pylint: disable=g-import-not-at-top
  assert jax.default_backend() == 'cpu' and cpu_schedule.active() == 'concurrency'
  assert cpu_schedule.mismatch('concurrency') is None
  note = cpu_schedule.mismatch('memory')
  assert note.startswith('note: train.cpu_schedule=memory not applied') and f'{FLAG}=false' in note
