"""The persistent compilation cache: where 'auto' puts it, and a resumed run loading its train
step from the workdir's cache instead of compiling it."""
import os

import jax
import pytest

from mlm_jax import compile_cache, train
from tests.conftest import corpus_config


def test_auto_prefers_the_environment_then_the_workdir(monkeypatch, tmp_path):
  monkeypatch.setenv(compile_cache.ENV, '/shared/cache')
  assert compile_cache.directory('auto', str(tmp_path)) == '/shared/cache'
  monkeypatch.delenv(compile_cache.ENV)
  assert compile_cache.directory('auto', str(tmp_path)) == str(tmp_path / 'compilation_cache')
  assert compile_cache.directory('', str(tmp_path)) is None
  assert compile_cache.directory('gs://b/cache', str(tmp_path)) == 'gs://b/cache'


def _train_steps(workdir):
  return [n for n in os.listdir(os.path.join(workdir, compile_cache.WORKDIR_ENTRY))
          if n.startswith('jit_train_step')]


@pytest.fixture
def events():
  seen = []
  listener = lambda event, **_: seen.append(event)
  jax.monitoring.register_event_listener(listener)
  yield seen
  jax.monitoring.unregister_event_listener(listener)


def test_a_resumed_run_loads_its_step_from_the_workdir_cache(shared_vocab, tmp_path, events,
                                                            monkeypatch):
  monkeypatch.delenv(compile_cache.ENV, raising=False)
  previous = jax.config.jax_compilation_cache_dir
  min_secs = jax.config.jax_persistent_cache_min_compile_time_secs
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)  # however fast it compiles
  workdir = str(tmp_path / 'run')
  settings = {'train.steps': 6, 'model.mlp_dim': 136}  # a width no other test compiles
  try:
    # A preempted run: it leaves at step 4 with a checkpoint (train.steps shapes the schedule,
    # so the resumed run keeps it).
    train.run(corpus_config(shared_vocab, **settings, **{'train.stop_at_step': 4}), workdir)
    steps = _train_steps(workdir)
    assert len(steps) == 1, steps
    jax.clear_caches()  # as a new process would start: nothing compiled in memory
    events.clear()
    train.run(corpus_config(shared_vocab, **settings), workdir)
    assert '/jax/compilation_cache/cache_hits' in events
    assert _train_steps(workdir) == steps  # loaded, not compiled and written anew
  finally:
    jax.config.update('jax_persistent_cache_min_compile_time_secs', min_secs)
    compile_cache.use(previous or '', workdir)
