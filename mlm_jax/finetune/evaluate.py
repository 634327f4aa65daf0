"""Scores a fine-tuned workdir on a dev file without training: its config.json, its latest (or
STEP's) checkpoint, one device."""
import jax
import ml_collections
import numpy as np
from flax import linen as nn

from mlm_jax import checkpointing, config_lib, sharding, state
from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import runner


def restore_workdir(workdir: str, step: int | None = None, dev_file: str = ''):
  """(config, TaskData, parameters on one device, step) of a fine-tuned workdir."""
  config = ml_collections.ConfigDict(config_lib.load_run_config(workdir).to_dict())
  f = config.finetune
  if not f.task:
    raise ConfigError(f'{workdir}: not a fine-tuning workdir (finetune.task is empty)')
  if dev_file:
    f.dev_file = dev_file
  if f.task != 'squad' and f.dev_file:
    f.train_file = f.dev_file  # nothing is trained: read the small file, not the train set
  data, _, _ = runner.build_task(config, None)
  model, tx = runner.model_and_optimizer(config, data)
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


def evaluate_workdir(workdir: str, dev_file: str = '', step: int | None = None) -> dict:
  """The task's metrics on DEV_FILE (default: the run's dev data), plus the step scored."""
  config, data, params, step = restore_workdir(workdir, step, dev_file)
  model, _ = runner.model_and_optimizer(config, data)
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  _, eval_fn = runner.loss_fns(model, data.kind, data.regression,
                               data.info.get('verbalizer_ids'))
  with jax.set_mesh(mesh), nn.logical_axis_rules(sharding.rules(config.mesh)):
    eval_step = jax.jit(eval_fn)
    out = {}
    for name, arrays in data.dev.items():
      outputs = runner.predict(eval_step, params, arrays, config.eval.batch_size, mesh)
      for k, v in data.evaluate(name, np.asarray(outputs)).items():
        out[k if len(data.dev) == 1 else f'{name}/{k}'] = v
  out['step'] = step
  return out
