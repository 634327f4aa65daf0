"""The training loop, in labelled phases:
mesh -> data -> abstract state -> sharded init -> restore -> compile -> loop (eval, checkpoint,
metrics)."""
import functools
import itertools
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from flax import linen as nn

from mlm_jax import checkpointing, config_lib, metrics, models, objectives, optim, sharding, state
from mlm_jax import compile_cache, cpu_schedule, fs, init_from, lineage, preemption, pruning
from mlm_jax import host_allocator, sparse_ft, teacher_weights, validation
from mlm_jax import workdir as workdir_lib
from mlm_jax import steps as steps_lib
from mlm_jax.data import pipeline, workdir_vocab
from mlm_jax.export import hf_import


def _log(msg: str) -> None:
  logging.info(msg)
  if jax.process_index() == 0:
    print(msg, flush=True)


def evaluate(eval_fn, params, source, config, mesh, rng) -> dict:
  """One pass over the validation split with fixed masks; adds the most-frequent-token baseline."""
  shard, dp_hosts = sharding.data_shard(mesh, config.eval.batch_size)
  ds = pipeline.make_dataset(source, 'validation', config.data.seq_len,
                             config.eval.batch_size // dp_hosts, train=False, seed=config.seed,
                             host_index=shard, host_count=dp_hosts,
                             tf_threads=config.data.tf_threads,
                             host_sharding=config.data.host_sharding)
  totals = None
  batches = ds.as_numpy_iterator()
  for i in itertools.count():
    if config.eval.steps and i >= config.eval.steps:
      break
    batch = next(batches, None)
    if batch is None:
      if dp_hosts == 1 or not config.eval.steps:
        break
      # Hosts must run the same number of steps: an exhausted host feeds empty rows.
      batch = {k: np.zeros((config.eval.batch_size // dp_hosts, config.data.seq_len), np.int32)
               for k in pipeline.RENAME.values()}
    out = eval_fn(params, sharding.host_batch_to_global(batch, mesh, config.eval.batch_size),
                  jax.random.fold_in(rng, i))
    totals = out if totals is None else steps_lib.add_metrics(totals, out)
  if totals is None:
    raise config_lib.ConfigError('the validation split yielded no batch')
  totals = jax.device_get(totals)
  label_counts = totals.pop('label_counts', None)
  values = metrics.reduce(totals)
  perplexity_of = objectives.objective(config.objective).perplexity_of
  if perplexity_of in values:
    values['perplexity'] = float(np.exp(values[perplexity_of]))
  if label_counts is not None:
    label_counts = np.asarray(label_counts)
    values['baseline_mlm_accuracy'] = float(label_counts.max() / max(label_counts.sum(), 1))
    values['eval_predictions'] = int(label_counts.sum())
  return values


def run(config: ml_collections.ConfigDict, workdir: str, dry_run: bool = False) -> dict:
  """Trains (or resumes) to config.train.steps; returns the final eval metrics.

  A failure before the loop starts (bad data, a vocabulary the corpus cannot support) leaves
  WORKDIR as it was found. DRY_RUN stops after the checks, the vocabulary and one batch of
  data, and leaves WORKDIR as it was found too."""
  validation.validate(config, jax.device_count())
  workdir_lib.check(workdir, shared=jax.process_count() > 1)
  try:
    with workdir_lib.removed_on_error(workdir) as setup:
      return _run(config, workdir, setup, dry_run)
  except workdir_lib.DryRunDone:
    _log(f'dry run: config, workdir, vocabulary and data are usable ({workdir} left as found)')
    return {}


def _run(config: ml_collections.ConfigDict, workdir: str, setup, dry_run: bool) -> dict:
  hf_dir = config.init_from.hf_dir
  if hf_dir:  # the checkpoint's architecture replaces the config's model dimensions
    hf_import.apply_overrides(config, hf_import.read_config(hf_dir))
    validation.validate(config, jax.device_count())
  if config.init_from.workdir:  # continued pre-training: the source run's architecture
    init_from.adopt(config)
    validation.validate(config, jax.device_count())
  t_cfg = config.train
  compile_cache.use(t_cfg.compilation_cache, workdir)

  # Phase: mesh.
  mesh = sharding.make_mesh(config.mesh)
  rules = sharding.rules(config.mesh)
  _log(f'mesh {dict(mesh.shape)} over {jax.device_count()} {jax.devices()[0].platform} devices, '
       f'{jax.process_count()} process(es)')

  # Measured before the input pipeline starts, so it has the cores to itself.
  peak_per_device, peak_source = metrics.peak_flops_source(t_cfg.peak_flops)
  peak = peak_per_device * jax.device_count()
  _log(f'MFU against {peak_per_device / 1e9:,.0f} GFLOP/s per device ({peak_source})')
  mfu_warned = False

  # Phase: data.
  source = pipeline.build_source(
      config.data, workdir, hf_dir,
      check_vocab=lambda v: objectives.check_vocabulary(config.objective, v.tokens, v.path, v))
  if source.tokens.vocab_size > config.model.vocab_size:
    raise config_lib.ConfigError(f'vocabulary {source.vocab_path} has {source.tokens.vocab_size} '
                                 f'tokens, more than model.vocab_size={config.model.vocab_size}')
  if jax.process_index() == 0:  # the workdir carries its own vocabulary and config
    workdir_vocab.save(source.vocab, workdir)
  write_run_config(config, workdir)
  _log('config (beyond configs/base.py): ' + (' '.join(config_lib.differences(config)) or '-'))
  for warning in optim.schedule_warnings(t_cfg):
    _log(warning)
  shard, num_shards = sharding.data_shard(mesh, t_cfg.batch_size)
  host_batch = t_cfg.batch_size // num_shards
  # A dry run reads one batch unshuffled: filling the shuffle buffer would read thousands of
  # rows to check one.
  train_iter = pipeline.BatchIterator(pipeline.make_dataset(
      source, 'train', config.data.seq_len, host_batch, train=not dry_run, seed=config.seed,
      host_index=shard, host_count=num_shards,
      tf_threads=config.data.tf_threads, host_sharding=config.data.host_sharding))

  if dry_run:
    next(train_iter)  # the data reads, tokenizes and packs
    raise workdir_lib.DryRunDone()

  # Phase: abstract state.
  model = models.build(config.model)
  tx = optim.make_optimizer(t_cfg)
  objective = objectives.objective(config.objective)
  word_start = objectives.word_starts(config.objective, source.word_start)
  loss_fn = objective.make_loss(model, config.objective, source.tokens, word_start)
  init_objective_state = objectives.init_state_fn(config.objective)
  # A frozen model (a distillation teacher), read before anything compiles.
  frozen = objectives.load_frozen(config.objective)
  init_fn = state.make_init_fn(model, tx, config.data.seq_len, init_objective_state)
  with jax.set_mesh(mesh):
    shardings = state.state_shardings(model, tx, config.data.seq_len, mesh, rules,
                                      init_objective_state)
  abstract = state.abstract_state(init_fn, shardings)
  n_params = sum(x.size for x in jax.tree.leaves(abstract.params))
  _log(f'model {config.model.name}: {n_params:,} parameters; parameters + optimizer state '
       f'{state.bytes_per_device(abstract) / 2**20:.1f} MiB per device')
  init_rng, train_rng, eval_rng = jax.random.split(jax.random.key(config.seed), 3)

  # Phases: sharded init, restore.
  ckpt = checkpointing.Checkpointer(workdir, config.checkpoint.keep, config.checkpoint.every_steps)
  latest, train_state = ckpt.restore_latest(abstract, train_iter)
  if latest is not None:
    _log(f'resumed from {ckpt.directory}/{latest} onto mesh {dict(mesh.shape)} '
         '(restored arrays are resharded to this mesh)')
  else:
    train_state = state.create_sharded(init_fn, shardings, init_rng)
    if hf_dir:  # fresh init supplies whatever the checkpoint lacks
      params, missing = hf_import.load_params(hf_dir, config.model,
                                              jax.device_get(train_state.params))
      train_state = train_state.replace(params=jax.device_put(params, shardings.params))
      _log(f'initialised from Hugging Face checkpoint {hf_dir}'
           + (f' ({len(missing)} tensors it lacks were initialised fresh)' if missing else ''))
    elif config.init_from.workdir:
      params, pre_step = init_from.load_params(config, jax.device_get(train_state.params))
      train_state = train_state.replace(params=jax.device_put(params, shardings.params))
      if jax.process_index() == 0:  # soups check that ingredients share this ancestor
        lineage.record_branch(workdir, config.init_from.workdir, pre_step, params)
      _log(f'initialised from {config.init_from.workdir} step {pre_step} (fresh optimizer state)')
    else:
      _log('initialised a fresh model')

  # Phase: compile (ahead of time, so the loop never compiles).
  frozen_args, frozen_sh, frozen_abstract = (), (), ()
  if frozen is not None:
    with jax.set_mesh(mesh):
      params_on_mesh, sh = teacher_weights.place(frozen, config.data.seq_len, mesh, rules)
    frozen_args, frozen_sh = (params_on_mesh,), (sh,)
    frozen_abstract = (jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), params_on_mesh, sh),)
    _log(f'frozen teacher ({frozen.model_cfg.name}, {frozen.model_cfg.num_layers} layers x '
         f'{frozen.model_cfg.hidden_size}) placed on the mesh')
  # LT-SFT's sparse phase (mlm_jax/sparse_ft.py): only the mask's entries may change.
  mask_args, mask_sh, mask_abstract = (), (), ()
  if t_cfg.update_mask:
    if frozen is not None:
      raise config_lib.ConfigError('train.update_mask with a frozen teacher is not supported')
    mask_args, mask_sh, mask_abstract = sparse_ft.step_args(
        t_cfg.update_mask, abstract.params, shardings.params, sharding.replicated(mesh))
  batch_sh = sharding.batch_sharding(mesh)
  batch_shapes = {k: jax.ShapeDtypeStruct((t_cfg.batch_size, config.data.seq_len), np.int32,
                                          sharding=batch_sh) for k in pipeline.batch_keys(source)}
  step_fn = functools.partial(steps_lib.train_step, loss_fn=loss_fn, tx=tx,
                              schedule=optim.schedule(t_cfg), num_micro=t_cfg.micro_batches,
                              prune_cfg=t_cfg if pruning.enabled(t_cfg) else None)
  # (all, prunable) parameters: the pruning schedule's average-size accounting.
  param_counts = pruning.counts(abstract.params) if pruning.enabled(t_cfg) else None
  schedule_note = cpu_schedule.mismatch(t_cfg.cpu_schedule)
  if schedule_note:
    _log(schedule_note)
  t0 = time.time()
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    train_step = jax.jit(step_fn, in_shardings=(shardings, batch_sh, sharding.replicated(mesh),
                                                *frozen_sh, *mask_sh),
                         out_shardings=(shardings, sharding.replicated(mesh)),
                         donate_argnums=0).lower(abstract, batch_shapes, train_rng,
                                                 *frozen_abstract, *mask_abstract).compile()
    eval_step = jax.jit(functools.partial(steps_lib.eval_step, loss_fn=loss_fn),
                        in_shardings=(shardings.params, batch_sh, sharding.replicated(mesh),
                                      shardings.objective_state, *frozen_sh),
                        out_shardings=sharding.replicated(mesh))
  _log(f'compiled train step in {time.time() - t0:.1f}s')
  sharding.wait_for_processes('compiled')  # the first collective comes next
  setup.finished()  # from here on the workdir holds a run: failures keep it
  add = jax.jit(steps_lib.add_metrics)

  flops_per_token = objectives.flops_per_token(config)  # every pass the objective runs
  headline = objective.headline(config.objective)
  tokens_per_step = t_cfg.batch_size * config.data.seq_len
  writer = metrics.Writer(workdir, enabled=jax.process_index() == 0, config=config)

  extra_sets = (pipeline.eval_set_sources(config.data, config.eval.extra_sets, source)
                if config.eval.extra_sets else [])

  def run_eval(step: int) -> dict:
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      fn = lambda p, b, r: eval_step(p, b, r, train_state.objective_state,  # noqa: E731
                                     *frozen_args)
      values = evaluate(fn, train_state.params, source, config, mesh, eval_rng)
      for name, extra in extra_sets:  # each extra held-out set under its own name
        values.update({f'{name}/{k}': v for k, v in evaluate(
            fn, train_state.params, extra, config, mesh, eval_rng).items()})
    writer.write(step, 'eval', values)
    _log(metrics.eval_line(step, values, headline))
    return values

  # Phase: loop.
  step = int(jax.device_get(train_state.step))
  sums, interval_start, interval_steps, nonpad = None, time.time(), 0, 0
  loop_start, loop_start_step = time.time(), step
  eval_values, sigterm = {}, False
  if step == 0 and config.eval.early_every_steps:  # the starting point the early evals dip from
    eval_values = run_eval(0)
  # A run resumed at or past stop_at_step (the same time-sliced command again) trains nothing.
  last_step = min(t_cfg.steps, t_cfg.stop_at_step or t_cfg.steps)
  wait_each_step = host_allocator.one_step_at_a_time()
  with preemption.guard() as preempted:
    while step < last_step:
      host_batch_np = next(train_iter)
      nonpad += int((host_batch_np['segment_ids'] != 0).sum())
      batch = sharding.host_batch_to_global(host_batch_np, mesh, t_cfg.batch_size)
      if wait_each_step:  # CPU: the last step's buffers are freed before this one takes its own
        host_allocator.wait_for_step(train_state)
      train_state, step_metrics = train_step(train_state, batch, train_rng, *frozen_args,
                                             *mask_args)
      sums = step_metrics if sums is None else add(sums, step_metrics)
      step += 1
      interval_steps += 1
      sigterm = preempted.reached(step)  # once per step; agreed across processes
      stopping = step == last_step or sigterm
      if step % t_cfg.log_every_steps == 0 or stopping:
        check_finite(train_state, t_cfg.nonfinite_policy)
        values = metrics.reduce(jax.device_get(sums))
        elapsed = time.time() - interval_start
        values['tokens_per_sec'] = tokens_per_step * interval_steps / elapsed
        values['mfu'] = values['tokens_per_sec'] * flops_per_token / peak
        if not mfu_warned and (warning := metrics.mfu_warning(values['mfu'], peak_per_device,
                                                                peak_source)):
          _log(warning)
          mfu_warned = True
        # Non-pad fraction of this host's rows over the interval.
        values['packing_efficiency'] = nonpad / (interval_steps * host_batch * config.data.seq_len)
        values['nonfinite_steps'] = int(jax.device_get(train_state.nonfinite_steps))
        if pruning.enabled(t_cfg):  # the schedule's parameter count, now and averaged so far
          values['active_params'], values['average_params'] = pruning.average_params(
              step, *param_counts, t_cfg)
        writer.write(step, 'train', values)
        _log(metrics.progress_line(step, t_cfg.steps, values, time.time() - loop_start,
                                   step - loop_start_step, headline))
        sums, interval_start, interval_steps, nonpad = None, time.time(), 0, 0
      if eval_due(step, config.eval) and not stopping:
        t_eval = time.time()
        eval_values = run_eval(step)
        interval_start += time.time() - t_eval  # eval time is not training time
      if stopping or step % config.checkpoint.every_steps == 0:
        if all_finite(train_state.params):
          ckpt.save(step, train_state, train_iter, force=stopping)
        else:  # never write a checkpoint holding NaN or Inf
          _log(f'step {step}: parameters are not finite; checkpoint not written')
      if sigterm:
        _log(f'SIGTERM: checkpoint of step {step} written; exiting')
        break

  if step == t_cfg.steps:
    eval_values = run_eval(step)
  ckpt.close()
  writer.close()
  if step == t_cfg.steps:  # launchers key on this line: only a finished run prints it
    _log(f'done: step {step}, workdir {fs.absolute(workdir)}')
  else:
    _log(f'stopped: step {step} of {t_cfg.steps} (run the same command to resume), '
         f'workdir {fs.absolute(workdir)}')
  if sigterm:
    raise preemption.Preempted(step)
  return eval_values


def eval_due(step: int, eval_cfg) -> bool:
  """Every eval.early_every_steps up to eval.early_until_step, then every eval.every_steps."""
  e = eval_cfg
  if e.early_every_steps and step <= e.early_until_step:
    return step % e.early_every_steps == 0
  return bool(e.every_steps) and step % e.every_steps == 0


@jax.jit
def _all_finite(tree):
  return jnp.all(jnp.array([jnp.isfinite(x).all() for x in jax.tree.leaves(tree)]))


def all_finite(tree) -> bool:
  return bool(jax.device_get(_all_finite(tree)))


def check_finite(train_state, policy: str) -> None:
  if policy != 'stop':
    return
  first = int(jax.device_get(train_state.first_nonfinite_step))
  if first >= 0:
    raise config_lib.RunError(f'non-finite loss or gradient at step {first} '
                              '(train.nonfinite_policy=stop); the update was not applied')


def write_run_config(config, workdir: str) -> None:
  """The resolved config beside the checkpoints: export and inspection tools read it."""
  if jax.process_index() != 0:
    return
  fs.makedirs(workdir)
  fs.write_text(os.path.join(workdir, config_lib.RUN_CONFIG), config.to_json(indent=2))
