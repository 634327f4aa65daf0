"""Export a training workdir to a directory that transformers loads with no extra code."""
import json
import os

import jax
import ml_collections
import numpy as np
from safetensors.numpy import save_file

from mlm_jax import checkpointing, models, optim, sharding, state
from mlm_jax.config_lib import ConfigError, load_run_config  # noqa: F401  (re-exported)
from mlm_jax.export import convert, tokenizer



def vocab_path(config, workdir: str) -> str:
  return config.data.vocab_path or os.path.join(workdir, f'spm_{config.data.vocab_size}.model')


def restore_params(config, workdir: str, step: int | None = None):
  """Parameters of STEP (default: latest) on one device, whatever mesh the run used."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.mesh.data, config.mesh.fsdp, config.mesh.tensor = 1, 1, 1
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  model = models.MODELS[config.model.name](config.model)
  tx = optim.make_optimizer(config.train)
  init_fn = state.make_init_fn(model, tx, config.data.seq_len)
  with jax.set_mesh(mesh):
    shardings = state.state_shardings(model, tx, config.data.seq_len, mesh,
                                      sharding.rules(config.mesh))
  abstract = state.abstract_state(init_fn, shardings)
  ckpt = checkpointing.Checkpointer(workdir, keep=1, every_steps=1)
  step = ckpt.latest_step() if step is None else step
  if step is None:
    raise ConfigError(f'{workdir}: no checkpoint to export')
  restored = ckpt.restore(step, abstract)
  ckpt.close()
  return jax.device_get(restored.params), step


def export(workdir: str, out: str, step: int | None = None) -> int:
  """Writes config.json, model.safetensors and tokenizer files to OUT; returns the step."""
  config = load_run_config(workdir)
  if config.model.name == 'electra':  # two models: OUT/discriminator and OUT/generator
    from mlm_jax.export import electra_export  # pylint: disable=g-import-not-at-top
    return electra_export.export(config, workdir, out, step)
  convert.check_exportable(config.model)
  params, step = restore_params(config, workdir, step)
  tok, tokens = tokenizer.for_vocab(vocab_path(config, workdir))
  tensors = convert.to_hf_state_dict(params, config.model)
  del tensors['cls.predictions.decoder.weight']  # tied: transformers re-ties it on load
  os.makedirs(out, exist_ok=True)
  save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()},
            os.path.join(out, 'model.safetensors'), metadata={'format': 'pt'})
  hf_cfg = convert.hf_config(config.model, config.model.vocab_size, {'pad': tokens.pad})
  with open(os.path.join(out, 'config.json'), 'w', encoding='utf-8') as f:
    json.dump(hf_cfg, f, indent=2)
  tok.model_max_length = config.model.max_positions
  tok.save_pretrained(out)
  return step
