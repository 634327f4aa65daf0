"""Fine-tuning, in train.run's phases: init source -> data -> mesh -> abstract state -> sharded
init (pre-trained encoder + fresh head) -> restore -> compile -> loop (eval, checkpoint, metrics).

A training batch is a pure function of the step (the epoch's seeded permutation), so a resumed
run continues exactly with nothing but the Orbax train state.
"""
import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import linen as nn

from mlm_jax import checkpointing, config_lib, fs, metrics, optim, preemption, sharding, state
from mlm_jax import compile_cache, cpu_schedule, host_allocator, sparse_ft
from mlm_jax import workdir as workdir_lib
from mlm_jax import steps as steps_lib
from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import encoders, features, glue, layer_decay
from mlm_jax.data import workdir_vocab
from mlm_jax.finetune.model import FinetuneModel
from mlm_jax.objectives.objective import LossOutput

RESULT = 'finetune_result.json'  # final metrics, written when a run completes
FINETUNE_MODEL_KEYS = ('dropout_rate', 'attention_dropout_rate')  # not taken from pre-training


def _log(msg: str) -> None:
  if jax.process_index() == 0:
    print(msg, flush=True)


def validate(config) -> None:
  f = config.finetune
  req = config_lib.require
  if f.task != 'squad':
    glue.get_task(f.task)  # unknown task: one line naming finetune.task
  req(f.method in ('head', 'generative'), f'finetune.method={f.method!r} must be head or generative')
  req(f.task != 'squad' or f.method == 'head', 'finetune.method=generative is for GLUE tasks')
  req(f.format in ('tsv', 'tfds'), f'finetune.format={f.format!r} must be tsv or tfds')
  req(f.head_activation in ('tanh', 'gelu'),
      f'finetune.head_activation={f.head_activation!r} must be tanh or gelu')
  req(8 <= f.max_seq_len <= config.model.max_positions,
      f'finetune.max_seq_len={f.max_seq_len} must be in [8, model.max_positions='
      f'{config.model.max_positions}]')
  req(0 < f.layerwise_lr_decay <= 1, f'finetune.layerwise_lr_decay={f.layerwise_lr_decay} '
      'must be in (0, 1]')
  req(0 <= f.warmup_fraction < 1, f'finetune.warmup_fraction={f.warmup_fraction} must be in [0, 1)')
  req(f.steps > 0 or f.epochs > 0 or f.zero_shot, 'finetune.epochs or finetune.steps must be > 0')
  req(not f.zero_shot or f.method == 'generative', 'finetune.zero_shot needs method=generative')
  req(not (config.init_from.workdir and config.init_from.hf_dir),
      'init_from.workdir and init_from.hf_dir are exclusive')
  req(config.init_from.weights or config.init_from.workdir or config.init_from.hf_dir,
      'init_from.weights=False needs init_from.workdir or init_from.hf_dir (the architecture)')


def resolve_init(config, mlm_head: bool):
  """Sets config.model from the pre-trained source; returns (vocabulary path, its key,
  loader(fresh_params) -> params with the pre-trained encoder, description)."""
  pre_dir, hf_dir = config.init_from.workdir, config.init_from.hf_dir
  if pre_dir:
    pre = config_lib.load_run_config(pre_dir)
    for key in config.model:  # the architecture; dropout is the fine-tuning config's
      if key in pre.model and key not in FINETUNE_MODEL_KEYS:
        config.model[key] = pre.model[key]
    where = f'init_from.workdir={pre_dir}'
    if config.finetune.add_position_embeddings:
      if config.model.position_scheme != 'none':
        raise ConfigError(f'finetune.add_position_embeddings: {where} already has positions '
                          f'(model.position_scheme={config.model.position_scheme!r})')
      config.model.position_scheme = 'learned'
    encoders.check(config.model, mlm_head, where=f'{where}: model.name')
    vocab = workdir_vocab.run_vocab_path(pre, pre_dir)  # what the run recorded

    def load(fresh):
      params, step = checkpointing.restore_params(pre, pre_dir)
      _log(f'encoder from {pre_dir} step {step}')
      backbone = encoders.encoder_params(config.model, params, mlm_head, where)
      return {**fresh, 'backbone': with_fresh_positions(backbone, fresh['backbone'])}
    return vocab, 'init_from.workdir', load
  if hf_dir:
    from mlm_jax.export import hf_import  # pylint: disable=g-import-not-at-top
    hf_import.apply_overrides(config, hf_import.read_config(hf_dir))
    config.model.name = hf_import.imported_family(hf_import.read_config(hf_dir))  # its tree

    def load(fresh):
      from mlm_jax import models  # pylint: disable=g-import-not-at-top
      ids = jnp.zeros((1, 8), jnp.int32)
      expected = nn.meta.unbox(jax.jit(models.build(config.model).init)(
          jax.random.key(0), ids, ids + 1, ids, ids[:, :1])['params'])
      expected = jax.tree.map(np.asarray, expected)
      params, _ = hf_import.load_params(hf_dir, config.model, expected)
      out = {**fresh, 'backbone': encoders.encoder_params(config.model, params, mlm_head,
                                                          'init_from.hf_dir')}
      pooler = _hf_pooler(hf_import.read_state_dict(hf_dir))
      if pooler and 'dense' in out.get('head', {}) and config.finetune.head_activation == 'tanh':
        out['head'] = {**out['head'], 'dense': pooler}  # BERT's pre-trained pooler
      _log(f'encoder from Hugging Face checkpoint {hf_dir}')
      return out
    return hf_dir, 'init_from.hf_dir', load
  if not config.data.vocab_path:
    raise ConfigError('fine-tuning from random init needs data.vocab_path (or set '
                      'init_from.workdir / init_from.hf_dir)')
  return config.data.vocab_path, 'data.vocab_path', None


def _hf_pooler(sd: dict) -> dict | None:
  for prefix in ('bert.', ''):
    w, b = sd.get(prefix + 'pooler.dense.weight'), sd.get(prefix + 'pooler.dense.bias')
    if w is not None and b is not None:
      return {'kernel': np.asarray(w, np.float32).T, 'bias': np.asarray(b, np.float32)}
  return None


def build_task(config, workdir: str | None):
  """(TaskData, vocabulary path, loader) with config.model set from the init source."""
  from mlm_jax.data import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
  f = config.finetune
  vocab_path, key, load = resolve_init(config, f.method == 'generative')
  v = vocab_lib.load(vocab_path, key)
  if v.tokens.vocab_size > config.model.vocab_size:
    raise ConfigError(f'{key}={vocab_path}: {v.tokens.vocab_size} tokens, more than '
                      f'model.vocab_size={config.model.vocab_size}')
  encode = features.CachedEncoder(v.seqio_vocab.encode)
  if f.task == 'squad':
    data = features.squad_task(f, config.seed, encode, v.tokens, workdir)
  else:
    data = features.glue_task(f, config.seed, encode, v.tokens)
  return data, vocab_path, load


def model_and_optimizer(config, data):
  """The fine-tuning model and its optax chain (layer-wise decay when configured)."""
  f, t = config.finetune, config.train
  model = FinetuneModel(config.model, data.kind, data.num_labels, f.head_dropout,
                        f.head_activation)
  tx = optim.make_optimizer(t) if t.steps else optax.identity()
  if f.layerwise_lr_decay < 1 and t.steps:
    shapes = jax.eval_shape(lambda r: nn.meta.unbox(state.init_variables(model, f.max_seq_len, r)),
                            jax.random.key(0))
    tx = optax.chain(tx, layer_decay.scale_updates(
        layer_decay.scales(shapes, config.model.num_layers, f.layerwise_lr_decay)))
  return model, tx


def loss_fns(model, kind: str, regression: bool, verbalizer, temperature: float = 1.0):
  """(loss_fn, eval_fn). A batch with 'soft_target' (finetune/distill.py) is trained on it
  instead of its labels: cross-entropy at TEMPERATURE, or squared error for regression."""
  def apply(params, batch, train, rng):
    return model.apply({'params': params}, batch['input_ids'], batch['segment_ids'],
                       batch['positions'], batch.get('masked_positions'),
                       batch['token_type_ids'], deterministic=not train, rngs={'dropout': rng})

  def loss_fn(params, batch, rng, train: bool = True):
    out = apply(params, batch, train, rng)
    n = jnp.asarray(batch['input_ids'].shape[0], jnp.float32)
    m = {}
    if kind == 'span':
      xent = (optax.softmax_cross_entropy_with_integer_labels(out[..., 0], batch['start_positions'])
              + optax.softmax_cross_entropy_with_integer_labels(out[..., 1],
                                                                batch['end_positions'])) / 2
    elif kind == 'generative':  # the answer token over the whole vocabulary, as MLM pre-training
      xent = optax.softmax_cross_entropy_with_integer_labels(out, batch['answer_id'])
      pred = jnp.argmax(out[:, verbalizer], axis=-1)
      m['accuracy'] = ((pred == batch['label']).sum(), n)
    elif regression:
      xent = (out[:, 0] - batch.get('soft_target', batch['label'])) ** 2
    elif 'soft_target' in batch:
      xent = optax.softmax_cross_entropy(out / temperature, batch['soft_target'])
      m['accuracy'] = ((jnp.argmax(out, -1) == batch['label']).sum(), n)
    else:
      xent = optax.softmax_cross_entropy_with_integer_labels(out, batch['label'])
      m['accuracy'] = ((jnp.argmax(out, -1) == batch['label']).sum(), n)
    return LossOutput(xent.mean(), m)

  def eval_fn(params, batch):
    out = apply(params, batch, False, jax.random.key(0))
    return out[:, verbalizer] if kind == 'generative' else out

  return loss_fn, eval_fn


def restore_finetuned(workdir: str, step: int | None = None, dev_file: str = ''):
  """(config, TaskData, parameters on one device, step) of a fine-tuned workdir."""
  config = ml_collections.ConfigDict(config_lib.load_run_config(workdir).to_dict())
  f = config.finetune
  if not f.task:
    raise ConfigError(f'{workdir}: not a fine-tuning workdir (finetune.task is empty)')
  if dev_file:
    f.dev_file = dev_file
  if f.task != 'squad' and f.dev_file:
    f.train_file = f.dev_file  # nothing is trained: read the small file, not the train set
  data, _, _ = build_task(config, None)
  model, tx = model_and_optimizer(config, data)
  config.mesh.data = config.mesh.fsdp = config.mesh.tensor = 1
  config.mesh.dcn_data = config.mesh.dcn_fsdp = 1
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  init_fn = state.make_init_fn(model, tx, f.max_seq_len)
  with jax.set_mesh(mesh):
    shardings = state.state_shardings(model, tx, f.max_seq_len, mesh, sharding.rules(config.mesh))
  abstract = state.abstract_state(init_fn, shardings)
  ckpt = checkpointing.Checkpointer(workdir, keep=1, every_steps=1)
  step = ckpt.latest_step() if step is None else step
  if step is None:
    ckpt.close()
    raise ConfigError(f'{workdir}: no checkpoint')
  params = ckpt.restore(step, abstract).params
  ckpt.close()
  return config, data, params, step


def teacher_outputs(workdir: str, arrays: dict) -> np.ndarray:
  """A fine-tuned workdir's outputs (logits, or the regression value) on every row of ARRAYS."""
  config, data, params, _ = restore_finetuned(workdir)
  model, _ = model_and_optimizer(config, data)
  _, eval_fn = loss_fns(model, data.kind, data.regression, None)
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  with jax.set_mesh(mesh), nn.logical_axis_rules(sharding.rules(config.mesh)):
    return np.asarray(predict(jax.jit(eval_fn), params, arrays, config.eval.batch_size, mesh),
                      np.float32)


def _rows(step: int, n: int, batch: int, seed: int) -> np.ndarray:
  """Row indices of global batch STEP: epoch-wise seeded permutations, last partial dropped."""
  per_epoch = n // batch
  epoch, i = divmod(step, per_epoch)
  perm = np.random.default_rng([seed, epoch]).permutation(n)
  return perm[i * batch:(i + 1) * batch]


def _host(arrays: dict, rows: np.ndarray, shard: int, count: int) -> dict:
  per = len(rows) // count
  mine = rows[shard * per:(shard + 1) * per]
  return {k: v[mine] for k, v in arrays.items()}


def predict(eval_step, params, arrays: dict, batch: int, mesh) -> np.ndarray:
  """Model outputs on every row of ARRAYS (padded to whole batches, padding dropped)."""
  n = len(arrays['input_ids'])
  shard, count = sharding.data_shard(mesh, batch)
  outs = []
  for start in range(0, n, batch):
    rows = np.arange(start, start + batch) % n  # the last batch wraps; extra rows dropped
    out = eval_step(params, sharding.host_batch_to_global(_host(arrays, rows, shard, count),
                                                          mesh, batch))
    outs.append(np.asarray(jax.device_get(out))[:min(batch, n - start)])
  return np.concatenate(outs)


def run(config: ml_collections.ConfigDict, workdir: str, dry_run: bool = False) -> dict:
  """Fine-tunes (or resumes) and evaluates on the dev file(s); returns the final metrics.

  A failure before the loop (bad file, label, checkpoint) leaves WORKDIR as it was found;
  DRY_RUN stops after the checkpoint, vocabulary and task files were read, leaving it too."""
  workdir_lib.check(workdir, shared=jax.process_count() > 1)
  try:
    with workdir_lib.removed_on_error(workdir) as setup:
      return _run(config, workdir, setup, dry_run)
  except workdir_lib.DryRunDone:
    _log(f'dry run: config, checkpoint, vocabulary and task files are usable ({workdir} left '
         'as found)')
    return {}


def _run(config, workdir: str, setup, dry_run: bool) -> dict:
  config = ml_collections.ConfigDict(config.to_dict())  # derived values are written below
  f, t = config.finetune, config.train
  validate(config)
  compile_cache.use(t.compilation_cache, workdir)

  # Phases: init source and data (every bad file or label fails here, before compilation).
  data, vocab_path, load = build_task(config, workdir)
  validate(config)  # the checkpoint's model section may change max_positions
  if f.distill_from:  # Well-Read Students: a teacher's soft labels replace the gold ones
    from mlm_jax.finetune import distill  # pylint: disable=g-import-not-at-top
    distill.check(config, vocab_path)
  n_train = len(data.train['input_ids'])
  if f.zero_shot:
    t.steps = 0
  elif f.steps:
    t.steps = f.steps
  else:
    if n_train < t.batch_size:
      raise ConfigError(f'{n_train} training examples, fewer than train.batch_size={t.batch_size}')
    t.steps = max(1, int(round(f.epochs * (n_train // t.batch_size))))
  t.warmup_steps = int(f.warmup_fraction * t.steps)
  if dry_run:
    raise workdir_lib.DryRunDone()
  if f.distill_from:
    data.train['soft_target'] = distill.soften(
        teacher_outputs(f.distill_from, data.train), f.distill_temperature, data.regression)
    _log(f'soft labels of {n_train} training rows from the teacher {f.distill_from}')
  config.data.seq_len = f.max_seq_len
  config.data.vocab_path = config.data.vocab_path or vocab_path
  from mlm_jax import train  # pylint: disable=g-import-not-at-top
  train.write_run_config(config, workdir)

  # Phase: mesh.
  mesh = sharding.make_mesh(config.mesh)
  rules = sharding.rules(config.mesh)
  for b, key in ((t.batch_size, 'train.batch_size'), (config.eval.batch_size, 'eval.batch_size')):
    if b % sharding.data_parallel_size(mesh):
      raise ConfigError(f'{key}={b} is not divisible by the data-parallel size '
                        f'{sharding.data_parallel_size(mesh)}')

  # Phase: abstract state.
  model, tx = model_and_optimizer(config, data)
  init_fn = state.make_init_fn(model, tx, f.max_seq_len)
  with jax.set_mesh(mesh):
    shardings = state.state_shardings(model, tx, f.max_seq_len, mesh, rules)
  abstract = state.abstract_state(init_fn, shardings)
  init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
  _log(f'fine-tuning {config.model.name} ({sum(x.size for x in jax.tree.leaves(abstract.params)):,}'
       f' parameters) on {f.task} [{data.kind}]: {n_train} training rows, {t.steps} steps')

  # Phases: sharded init, restore.
  ckpt = checkpointing.Checkpointer(workdir, config.checkpoint.keep, config.checkpoint.every_steps)
  latest, train_state = ckpt.restore_latest(abstract) if t.steps else (None, None)
  if latest is not None:
    _log(f'resumed from {ckpt.directory}/{latest}')
  else:
    train_state = state.create_sharded(init_fn, shardings, init_rng)
    if load is not None and config.init_from.weights:
      params = load(jax.tree.map(np.asarray, jax.device_get(train_state.params)))
      if f.init_token_type_1_from_0:
        params = type_1_from_0(params)
      train_state = train_state.replace(params=jax.device_put(params, shardings.params))
    elif load is not None:
      _log('random weights (init_from.weights=False): architecture and vocabulary only')

  # Phase: compile.
  loss_fn, eval_fn = loss_fns(model, data.kind, data.regression, data.info.get('verbalizer_ids'),
                              f.distill_temperature)
  batch_sh, repl = sharding.batch_sharding(mesh), sharding.replicated(mesh)
  shapes = lambda b, arrays: {k: jax.ShapeDtypeStruct((b, *v.shape[1:]), v.dtype,  # noqa: E731
                                                      sharding=batch_sh) for k, v in arrays.items()}
  schedule_note = cpu_schedule.mismatch(t.cpu_schedule)
  if schedule_note:
    _log(schedule_note)
  t0 = time.time()
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    train_step, step_extra = None, ()
    if t.steps:
      step_fn = functools.partial(steps_lib.train_step, loss_fn=loss_fn, tx=tx,
                                  schedule=optim.schedule(t), num_micro=t.micro_batches)
      mask_args, mask_sh, mask_abstract = (), (), ()
      if t.update_mask:  # LT-SFT's sparse phase (mlm_jax/sparse_ft.py)
        mask_args, mask_sh, mask_abstract = sparse_ft.step_args(
            t.update_mask, abstract.params, shardings.params, repl)
      train_step = jax.jit(step_fn, in_shardings=(shardings, batch_sh, repl, *mask_sh),
                           out_shardings=(shardings, repl), donate_argnums=0).lower(
                               abstract, shapes(t.batch_size, data.train), train_rng,
                               *mask_abstract).compile()
      step_extra = mask_args
    dev0 = next(iter(data.dev.values()))
    eval_step = jax.jit(eval_fn, in_shardings=(shardings.params, batch_sh),
                        out_shardings=repl).lower(
                            abstract.params, shapes(config.eval.batch_size, dev0)).compile()
  _log(f'compiled in {time.time() - t0:.1f}s')
  sharding.wait_for_processes('finetune_compiled')  # the first collective comes next
  setup.finished()  # from here on the workdir holds a run: failures keep it
  writer = metrics.Writer(workdir, enabled=jax.process_index() == 0, config=config)
  add = jax.jit(steps_lib.add_metrics)

  def run_eval(step: int) -> dict:
    values = {}
    for name, arrays in data.dev.items():
      with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        out = predict(eval_step, train_state.params, arrays, config.eval.batch_size, mesh)
      for k, v in data.evaluate(name, out).items():
        values[k if len(data.dev) == 1 else f'{name}/{k}'] = v
    if len(data.dev) > 1:
      values['score'] = float(np.mean([values[f'{n}/score'] for n in data.dev]))
    writer.write(step, 'eval', values)
    _log(f'eval step {step}: ' + ' | '.join(f'{k} {v:.4f}' for k, v in sorted(values.items())))
    return values

  # Phase: loop.
  shard, count = sharding.data_shard(mesh, t.batch_size)
  step = int(jax.device_get(train_state.step))
  sums, t_int, n_int, sigterm = None, time.time(), 0, False
  wait_each_step = host_allocator.one_step_at_a_time()
  with preemption.guard() as preempted:  # SIGTERM: checkpoint this step and leave
    while step < t.steps:
      rows = _rows(step, n_train, t.batch_size, config.seed)
      host = _host(data.train, rows, shard, count)
      batch = sharding.host_batch_to_global(host, mesh, t.batch_size)
      if wait_each_step:  # CPU: one step's buffers live at a time (host_allocator)
        host_allocator.wait_for_step(train_state)
      train_state, m = train_step(train_state, batch, train_rng, *step_extra)
      sums = m if sums is None else add(sums, m)
      step, n_int = step + 1, n_int + 1
      sigterm = preempted.reached(step)
      stopping = step in (t.steps, t.stop_at_step) or sigterm
      if step % t.log_every_steps == 0 or stopping:
        values = metrics.reduce(jax.device_get(sums))
        elapsed = time.time() - t_int
        values['examples_per_sec'] = n_int * t.batch_size / elapsed
        writer.write(step, 'train', values)
        _log(f'step {step}/{t.steps} | loss {values["loss"]:.4f} | '
             f'{values["examples_per_sec"]:.1f} examples/s')
        sums, t_int, n_int = None, time.time(), 0
      if config.eval.every_steps and step % config.eval.every_steps == 0 and not stopping:
        t_eval = time.time()
        run_eval(step)
        t_int += time.time() - t_eval
      if stopping or step % config.checkpoint.every_steps == 0:
        ckpt.save(step, train_state, force=stopping)
      if step == t.stop_at_step or sigterm:
        break

  result = {}
  if step == t.steps:
    result = run_eval(step)
    if jax.process_index() == 0:
      fs.write_text(os.path.join(workdir, RESULT), json.dumps(
          {'task': f.task, 'method': f.method, 'seed': config.seed, 'step': step,
           'metrics': result, **{k: v for k, v in data.info.items() if k != 'verbalizer_ids'}},
          indent=2))
  ckpt.close()
  writer.close()
  if sigterm:
    _log(f'SIGTERM: checkpoint of step {step} written; exiting')
    raise preemption.Preempted(step)
  return result


def with_fresh_positions(backbone, fresh_backbone):
  """The fresh position table where the source had none (finetune.add_position_embeddings)."""
  emb, fresh_emb = backbone['embeddings'], fresh_backbone['embeddings']
  if 'position_embeddings' in emb or 'position_embeddings' not in fresh_emb:
    return backbone
  return {**backbone, 'embeddings': {**emb, 'position_embeddings': fresh_emb['position_embeddings']}}


def type_1_from_0(params):
  """Token-type rows 1.. := row 0 (pre-training only ever used type 0); host-side numpy."""
  emb = params['backbone']['embeddings']
  if 'token_type_embeddings' not in emb:
    return params
  table = np.array(emb['token_type_embeddings']['embedding'])
  table[1:] = table[0]
  new_emb = {**emb, 'token_type_embeddings': {'embedding': table}}
  return {**params, 'backbone': {**params['backbone'], 'embeddings': new_emb}}
