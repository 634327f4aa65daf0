"""Scores a fine-tuned workdir on a dev file without training: its config.json, its latest (or
STEP's) checkpoint, one device."""
import jax
import numpy as np
from flax import linen as nn

from mlm_jax import sharding
from mlm_jax.finetune import runner


def restore_workdir(workdir: str, step: int | None = None, dev_file: str = ''):
  """(config, TaskData, parameters on one device, step) of a fine-tuned workdir."""
  return runner.restore_finetuned(workdir, step, dev_file)


def evaluate_workdir(workdir: str, dev_file: str = '', step: int | None = None,
                     transform=None) -> dict:
  """The task's metrics on DEV_FILE (default: the run's dev data), plus the step scored.
  TRANSFORM(config, params) -> params edits the weights first (composed sparse fine-tunings)."""
  config, data, params, step = restore_workdir(workdir, step, dev_file)
  if transform is not None:
    params = transform(config, jax.tree.map(np.asarray, jax.device_get(params)))
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
