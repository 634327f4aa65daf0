"""Export a training workdir to a directory that transformers loads with no extra code."""
import json
import os

import numpy as np
from safetensors.numpy import save_file

from mlm_jax.checkpointing import restore_params  # noqa: F401  (re-exported)
from mlm_jax.config_lib import load_run_config  # noqa: F401  (re-exported)
from mlm_jax.export import convert, tokenizer


def vocab_path(config, workdir: str) -> str:
  return config.data.vocab_path or os.path.join(workdir, f'spm_{config.data.vocab_size}.model')


def export(workdir: str, out: str, step: int | None = None) -> int:
  """Writes config.json, model.safetensors and tokenizer files to OUT; returns the step."""
  config = load_run_config(workdir)
  if 'finetune' in config and config.finetune.task:  # a fine-tuned workdir: its task class
    from mlm_jax.export import finetune_export  # pylint: disable=g-import-not-at-top
    return finetune_export.export(workdir, out, step)
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
