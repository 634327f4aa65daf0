"""Times steady-state training steps of a config on synthetic full rows; prints one JSON line.

python tools/benchmark.py --config=configs/bert.py:size=mini [--batch_size=32] [--torch]
python tools/benchmark.py --config=configs/wiki.py --config.data.train_files=... \
    --config.data.vocab_path=... --data [--data_only] --workdir=/tmp/bench

tokens_per_sec and mfu come from the median step, each step waited for; pipelined_step_time_s
and pipelined_mfu time the same steps as the training loop runs them: on accelerators
dispatched back to back (the difference is host time the device waits for between steps), on
CPU each waited for before the next. `allocator` names the malloc this process ran under
(mimalloc on CPU hosts by default: mlm_jax/host_allocator.py).

--data also times the input pipeline alone on the config's data section (read, tokenize, pack,
shuffle, batch: what one host's training loop pulls) with TensorFlow capped at
data.tf_threads, and reports its tokens/s and the ratio to the training step's consumption.

--docs_per_row=K packs K documents into each synthetic row (segment ids, restarting positions):
the unpadding check compares its tokens/s with K=1 (a batch with no padding).

--profile=DIR also traces --steps more steps and reports where the device time goes (by kind of
kernel, the costliest kernels, and the busy fraction of the step's wall time).

--torch also times the family's transformers twin (BertForMaskedLM, ModernBertForMaskedLM with
its default dense head; PyTorch eager, its default attention, torch.optim.AdamW, same
dimensions and batch, the same fraction of labelled positions) in a subprocess of its own, and
reports the ratio; the twin runs under the system malloc, as PyTorch is run, unless
--torch_allocator=mimalloc (`torch_allocator` says which). Both sides report compile time
(JAX: lowering and compiling the step; PyTorch eager: none) and peak resident memory of their
own process; the CPU model is named. The twin
runs first, and on an accelerator JAX is kept from preallocating its memory pool
(XLA_PYTHON_CLIENT_PREALLOCATE=false unless set): otherwise JAX's 75%% reservation leaves the twin
too little memory (BERT-base at seq 512, batch 64 ran out of memory on an 80 GB H100).

`glibc_tunables` and `torch_glibc_tunables` record GLIBC_TUNABLES as each process saw it (both
inherit it): glibc's malloc settings move XLA:CPU's step time (README, "Per-step buffers").
"""
import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if __name__ == '__main__':  # CPU hosts run under mimalloc, as training does (before imports)
  from mlm_jax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.maybe_reexec()

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from mlm_jax import config_lib, cpu_schedule, host_allocator, metrics, models  # noqa: E402
from mlm_jax import objectives, optim, sharding, state  # noqa: E402
from mlm_jax import steps as steps_lib  # noqa: E402
from mlm_jax import validation  # noqa: E402
from mlm_jax.tokens import SpecialTokens  # noqa: E402
# torch_twin for its peak_rss_mib: torch itself is imported only by the twin's own process
from tools import torch_twin, trace_summary  # noqa: E402
from tools.synthetic_rows import synthetic_batch  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config (path[:variant]).')
_STEPS = flags.DEFINE_integer('steps', 10, 'Timed steps.')
_WARMUP = flags.DEFINE_integer('warmup', 2, 'Untimed steps after compilation.')
_BATCH = flags.DEFINE_integer('batch_size', 0, 'Override train.batch_size (0: keep).')
_TORCH = flags.DEFINE_boolean('torch', False, 'Also time the transformers PyTorch baseline.')
_THREADS = flags.DEFINE_integer('threads', 2, 'PyTorch intra-op threads.')
_TORCH_ALLOCATOR = flags.DEFINE_enum(
    'torch_allocator', 'system', ['system', 'mimalloc'],
    'The twin\'s malloc: system (PyTorch as it is run) or mimalloc (like mlm_jax on CPU).')
_DATA = flags.DEFINE_boolean('data', False, 'Also time the input pipeline alone.')
_DATA_ONLY = flags.DEFINE_boolean('data_only', False, 'Time only the input pipeline.')
_DATA_SECONDS = flags.DEFINE_float('data_seconds', 20.0, 'Seconds of input pipeline timing.')
_DOCS = flags.DEFINE_integer(
    'docs_per_row', 1, 'Documents packed into each synthetic row (fill packing of a corpus whose '
    'documents average seq_len/K tokens); 1: one document per row.')
_PROFILE = flags.DEFINE_string(
    'profile', '', 'Also trace --steps more steps into this directory and report where the '
    "device time goes (tools/trace_summary.py) under 'profile'.")
_WORKDIR = flags.DEFINE_string('workdir', '/tmp/mlm_jax_benchmark',
                               'Scratch directory for the data pipeline (vocabulary cache).')


def time_data(config) -> dict:
  """Batches/s of the real input pipeline, after a warm-up that fills the shuffle buffer."""
  from mlm_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  d, batch = config.data, config.train.batch_size
  source = pipeline.build_source(d, _WORKDIR.value)
  it = pipeline.BatchIterator(pipeline.make_dataset(source, 'train', d.seq_len, batch,
                                                    train=True, seed=0, tf_threads=d.tf_threads))
  for _ in range(5):
    next(it)
  n, nonpad, t0 = 0, 0, time.perf_counter()
  while time.perf_counter() - t0 < _DATA_SECONDS.value:
    nonpad += int((next(it)['segment_ids'] != 0).sum())
    n += 1
  elapsed = time.perf_counter() - t0
  return {'data_tokens_per_sec': n * batch * d.seq_len / elapsed,
          'data_packing_efficiency': nonpad / (n * batch * d.seq_len),
          'data_tf_threads': d.tf_threads, 'data_task': d.task, 'data_format': d.format}


def time_data_or_exit(config) -> dict:
  try:
    return time_data(config)
  except config_lib.ConfigError as e:  # e.g. a vocabulary size the corpus cannot support
    sys.exit(f'error: {e}')


def time_jax(config, batch_np) -> tuple[float, float, float, dict | None]:
  """(seconds per optimizer step, median of the timed steps, each waited for; the same with the
  steps dispatched back to back, as the training loop runs them; seconds to compile the step;
  with --profile, the traced steps' summary)."""
  mesh = sharding.make_mesh(config.mesh)
  rules = sharding.rules(config.mesh)
  model = models.build(config.model)
  tx = optim.make_optimizer(config.train)
  tokens = SpecialTokens(pad=0, mask=4, cls=2, sep=3, special=(0, 1, 2, 3, 4),
                         vocab_size=config.model.vocab_size)
  loss_fn = objectives.objective(config.objective).make_loss(model, config.objective, tokens, None)
  init_objective_state = objectives.init_state_fn(config.objective)
  init_fn = state.make_init_fn(model, tx, config.data.seq_len, init_objective_state)
  from flax import linen as nn  # pylint: disable=g-import-not-at-top
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    shardings = state.state_shardings(model, tx, config.data.seq_len, mesh, rules,
                                      init_objective_state)
    train_state = state.create_sharded(init_fn, shardings, jax.random.key(0))
    teacher = objectives.load_frozen(config.objective)  # a distillation teacher, if any
    frozen, frozen_sh = (), ()
    if teacher is not None:
      from mlm_jax import teacher_weights  # pylint: disable=g-import-not-at-top
      on_mesh, sh = teacher_weights.place(teacher, config.data.seq_len, mesh, rules)
      frozen, frozen_sh = (on_mesh,), (sh,)
    step = jax.jit(functools.partial(steps_lib.train_step, loss_fn=loss_fn, tx=tx,
                                     schedule=optim.schedule(config.train),
                                     num_micro=config.train.micro_batches),
                   in_shardings=(shardings, sharding.batch_sharding(mesh), sharding.replicated(mesh),
                                 *frozen_sh),
                   out_shardings=(shardings, sharding.replicated(mesh)), donate_argnums=0)
    batch = sharding.host_batch_to_global(batch_np, mesh, config.train.batch_size)
    rng = jax.random.key(1)
    t0 = time.perf_counter()
    step = step.lower(train_state, batch, rng, *frozen).compile()
    compile_s = time.perf_counter() - t0
    wait = host_allocator.one_step_at_a_time()
    times = []
    for i in range(_WARMUP.value + _STEPS.value + 1):
      t = time.perf_counter()
      train_state, m = step(train_state, batch, rng, *frozen)
      jax.block_until_ready(m)
      if i > _WARMUP.value:
        times.append(time.perf_counter() - t)
      if wait:  # untimed: the step's temporaries freed before the next, as in the CPU loop
        time.sleep(host_allocator.FREE_PAUSE_S)
    step_s, profile = float(np.median(times)), None
    # The same steps as the training loop runs them: on accelerators back to back (the host's
    # dispatch overlaps the device's work), on CPU each waited for before the next is
    # dispatched (one step's buffers live: host_allocator).
    t = time.perf_counter()
    for _ in range(_STEPS.value):
      if wait:
        host_allocator.wait_for_step(train_state)
      train_state, m = step(train_state, batch, rng, *frozen)
    jax.block_until_ready((train_state, m))
    pipelined_s = (time.perf_counter() - t) / _STEPS.value
    if _PROFILE.value:
      with jax.profiler.trace(_PROFILE.value, create_perfetto_trace=True):
        for _ in range(_STEPS.value):
          train_state, m = step(train_state, batch, rng, *frozen)
          jax.block_until_ready(m)
      profile = trace_summary.summarize(trace_summary.load_events(_PROFILE.value),
                                        _STEPS.value, step_s)
  return step_s, pipelined_s, compile_s, profile


def torch_spec(config, batch_np) -> dict:
  """What tools/torch_twin.py builds and times: the family's transformers class at the
  config's dimensions (or a one-line exit when the family has none)."""
  family = models.family(config.model)
  if family.hf is None or not family.hf.twin:
    sys.exit(f'error: --torch: model.name={config.model.name!r} has no transformers twin')
  hf_cfg = dict(family.hf.twin_config(config.model))
  hf_cfg.update(hidden_dropout_prob=config.model.dropout_rate,
                attention_probs_dropout_prob=config.model.attention_dropout_rate)
  return {'class': family.hf.classes[0], 'config': hf_cfg, 'threads': _THREADS.value,
          'learning_rate': config.train.learning_rate, 'weight_decay': config.train.weight_decay,
          'mask_rate': config.objective.mask_rate, 'input_ids': batch_np['input_ids'].tolist(),
          'warmup': _WARMUP.value, 'steps': _STEPS.value,
          'device': 'cuda' if jax.default_backend() == 'gpu' else 'cpu',
          'bf16': config.model.dtype == 'bfloat16'}


def run_torch_twin(spec: dict, allocator: str = 'system') -> dict:
  """Times the twin in a process of its own (before JAX holds any accelerator memory), under
  ALLOCATOR's malloc (system or mimalloc)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  lib = host_allocator.library()
  preload = [p for p in os.environ.get('LD_PRELOAD', '').split(':') if p and p != lib]
  if allocator == 'mimalloc':
    if lib is None:
      sys.exit('error: --torch_allocator=mimalloc: cmeel-mimalloc is not installed')
    preload.insert(0, lib)
  env = {**os.environ, 'LD_PRELOAD': ':'.join(preload)}
  child = subprocess.run([sys.executable, torch_twin.__file__], input=json.dumps(spec),
                         capture_output=True, text=True, check=False, env=env)
  if child.returncode < 0:  # a signal: SIGKILL is most often the kernel's out-of-memory killer
    sys.exit(f'error: the PyTorch run was killed by signal {-child.returncode}'
             + (' (out of memory?)' if child.returncode == -9 else ''))
  if child.returncode:
    sys.exit(f'error: the PyTorch run failed: {child.stderr.strip().splitlines()[-1:]}')
  return json.loads(child.stdout.strip().splitlines()[-1])


def main(argv):
  del argv
  if _TORCH.value:  # before JAX's first device query, which would reserve the pool
    os.environ.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')
  config = _CONFIG.value
  if _BATCH.value:
    config.train.batch_size = _BATCH.value
  seq_len, batch = config.data.seq_len, config.train.batch_size
  try:
    cpu_schedule.apply(config.train.cpu_schedule)  # before JAX's first device query
    validation.validate(config, jax.device_count())
  except config_lib.ConfigError as e:
    sys.exit(f'error: {e}')
  if _DATA_ONLY.value:
    print(json.dumps(time_data_or_exit(config)))
    return
  peak, peak_source = metrics.peak_flops_source(config.train.peak_flops)
  peak *= jax.device_count()
  if not 1 <= _DOCS.value <= seq_len // 8:
    sys.exit(f'error: --docs_per_row={_DOCS.value}: must be in [1, seq_len/8={seq_len // 8}]')
  if _DOCS.value > 1 and _TORCH.value:
    sys.exit('error: --docs_per_row with --torch: the PyTorch twin has no packed-row attention')
  batch_np = synthetic_batch(np.random.default_rng(0), batch, seq_len, config.model.vocab_size,
                             _DOCS.value)
  twin = (run_torch_twin(torch_spec(config, batch_np), _TORCH_ALLOCATOR.value) if _TORCH.value
          else None)
  step_s, pipelined_s, compile_s, profile = time_jax(config, batch_np)
  flops = objectives.flops_per_token(config)
  tps = batch * seq_len / step_s
  result = {'config': _CONFIG.value.model.name, 'cpu': metrics.cpu_model(),
            'device_kind': jax.devices()[0].device_kind, 'jax': jax.__version__,
            'xla_flags': os.environ.get('XLA_FLAGS', ''),
            'glibc_tunables': os.environ.get('GLIBC_TUNABLES', ''),
            'cpu_schedule': cpu_schedule.active(),
            'allocator': host_allocator.name(),
            'batch_size': batch, 'seq_len': seq_len, 'docs_per_row': _DOCS.value,
            'tokens_per_sec': tps, 'step_time_s': step_s, 'compile_s': compile_s,
            'peak_rss_mib': torch_twin.peak_rss_mib(), 'model_flops_per_token': flops,
            'peak_flops': peak, 'peak_flops_source': peak_source, 'mfu': tps * flops / peak,
            'pipelined_step_time_s': pipelined_s,
            'pipelined_mfu': batch * seq_len / pipelined_s * flops / peak}
  device_stats = jax.local_devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in device_stats:  # GPU/TPU: the accelerator's own peak
    result['peak_device_mib'] = device_stats['peak_bytes_in_use'] / 2**20
  if profile:
    result['profile'] = profile
  if twin:
    torch_s = twin['torch_step_time_s']
    result.update(torch_tokens_per_sec=batch * seq_len / torch_s, torch_step_time_s=torch_s,
                  torch_compile_s=0.0, torch_peak_rss_mib=twin['torch_peak_rss_mib'],
                  torch_glibc_tunables=twin['torch_glibc_tunables'],
                  torch_allocator=twin['torch_allocator'],
                  speedup_vs_torch=torch_s / step_s,
                  memory_vs_torch=result['peak_rss_mib'] / twin['torch_peak_rss_mib'],
                  torch_mfu=batch * seq_len / torch_s * flops / peak)
    if 'torch_peak_device_mib' in twin:
      result['torch_peak_device_mib'] = twin['torch_peak_device_mib']
  if _DATA.value:
    result.update(time_data_or_exit(config))
    result['data_over_train'] = result['data_tokens_per_sec'] / tps
  print(json.dumps(result))


if __name__ == '__main__':
  app.run(main)
