"""CPU hosts re-execute the entry points under mimalloc; accelerator hosts and opt-outs keep
the system malloc."""
import os
import subprocess
import sys

import pytest

from mlm_jax import host_allocator
from tests.conftest import REPO

LIB = '/site/cmeel.prefix/lib/libmimalloc.so'


def test_plan_preloads_mimalloc_on_a_linux_cpu_host_and_keeps_other_preloads():
  env = host_allocator.plan({'PATH': '/bin'}, LIB, 'linux', accelerator=False,
                            memory_bytes=24 * 2**30)
  assert env['LD_PRELOAD'] == LIB and env['PATH'] == '/bin'
  # the block kept 5 s, no huge pages, arenas of half the memory that may hold it whole
  assert (env['MIMALLOC_PURGE_DELAY'], env['MIMALLOC_ALLOW_THP'], env['MIMALLOC_ARENA_RESERVE'],
          env['MIMALLOC_ARENA_MAX_OBJECT_SIZE']) == ('5000', '0', '12GiB', '12GiB')
  env = host_allocator.plan({'LD_PRELOAD': '/x/libfoo.so', 'MIMALLOC_PURGE_DELAY': '100'}, LIB,
                            'linux', accelerator=False, memory_bytes=2**30)
  assert env['LD_PRELOAD'] == f'{LIB}:/x/libfoo.so'
  assert env['MIMALLOC_PURGE_DELAY'] == '100'  # the user's setting stands
  assert env['MIMALLOC_ARENA_RESERVE'] == '1GiB'  # at least 1 GiB


@pytest.mark.parametrize('environ,lib,platform,accelerator', [
    ({host_allocator.ENV: 'system'}, LIB, 'linux', False),  # opted out
    ({}, None, 'linux', False),  # cmeel-mimalloc not installed
    ({}, LIB, 'darwin', False),  # no LD_PRELOAD there
    ({'LD_PRELOAD': f'/x/libfoo.so:{LIB}'}, LIB, 'linux', False),  # already under it
    ({}, LIB, 'linux', True),  # a GPU or TPU host: step buffers live on the device
    ({'JAX_PLATFORMS': 'cuda'}, LIB, 'linux', None),  # asked for an accelerator
])
def test_plan_runs_as_is(environ, lib, platform, accelerator):
  assert host_allocator.plan(environ, lib, platform, accelerator) is None


def test_jax_platforms_cpu_counts_as_a_cpu_host():
  assert host_allocator.plan({'JAX_PLATFORMS': 'cpu'}, LIB, 'linux') is not None


def test_an_unknown_choice_names_the_variable():
  with pytest.raises(ValueError, match=r"MLM_JAX_ALLOCATOR='jemalloc': expected mimalloc or"):
    host_allocator.plan({host_allocator.ENV: 'jemalloc'}, LIB, 'linux', accelerator=False)


def _run(env_extra):
  probe = ('from mlm_jax import host_allocator as h\n'
           'h.maybe_reexec()\n'
           'print(h.name())\n')
  env = {k: v for k, v in os.environ.items() if k not in ('LD_PRELOAD', host_allocator.ENV)}
  return subprocess.run([sys.executable, '-c', probe], cwd=REPO, capture_output=True, text=True,
                        timeout=120, env={**env, 'JAX_PLATFORMS': 'cpu', **env_extra})


@pytest.mark.skipif(not sys.platform.startswith('linux') or host_allocator.library() is None,
                    reason='mimalloc is preloaded on Linux, from the cmeel-mimalloc wheel')
def test_the_process_replaces_itself_under_mimalloc_unless_opted_out():
  assert host_allocator.name() == 'system'  # pytest itself was not re-executed
  out = _run({})
  assert out.returncode == 0 and out.stdout.split() == ['mimalloc'], out.stderr[-2000:]
  out = _run({host_allocator.ENV: 'system'})
  assert out.returncode == 0 and out.stdout.split() == ['system'], out.stderr[-2000:]
  out = _run({host_allocator.ENV: 'tcmalloc'})
  assert out.returncode == 1
  assert out.stderr.strip().splitlines() == [
      "error: MLM_JAX_ALLOCATOR='tcmalloc': expected mimalloc or system"]


def test_training_loops_wait_for_each_step_on_cpu():
  assert host_allocator.one_step_at_a_time()  # the tests run on (fake) CPU devices
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  x = jax.jit(lambda a: a @ a)(jnp.ones((256, 256)))
  host_allocator.wait_for_step({'x': x})
  assert x.is_ready()
