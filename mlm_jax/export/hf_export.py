"""Export a training workdir to a directory that transformers loads with no extra code: the
run's model family says how (models/family.py `hf`); BERT's writer lives here."""
import json
import os

import numpy as np
from safetensors.numpy import save_file

from mlm_jax import checkpointing, fs, models
from mlm_jax.config_lib import ConfigError, load_run_config
from mlm_jax.data import workdir_vocab
from mlm_jax.export import convert, model_card, tokenizer


def vocab_path(config, workdir: str) -> str:
  return workdir_vocab.run_vocab_path(config, workdir)


def export(workdir: str, out: str, step: int | None = None) -> int:
  """Writes WORKDIR's checkpoint (latest, or STEP) as its family's transformers classes to
  OUT (local or gs://: written locally, then uploaded); returns the exported step."""
  with fs.local_dir(out) as local:
    return _export(workdir, local, step)


def _export(workdir: str, out: str, step: int | None) -> int:
  config = load_run_config(workdir)
  if 'finetune' in config and config.finetune.task:  # a fine-tuned workdir: its task class
    from mlm_jax.export import finetune_export  # pylint: disable=g-import-not-at-top
    step = finetune_export.export(workdir, out, step)
  else:
    family = models.family(config.model)
    if family.hf is None:
      raise ConfigError(f'model.name={config.model.name!r} has no Hugging Face export')
    step = family.hf.export(config, workdir, out, step)
  # A model card in every directory transformers loads (ELECTRA writes one per part).
  for d in [out] + [os.path.join(out, n) for n in sorted(os.listdir(out))
                    if os.path.isfile(os.path.join(out, n, 'config.json'))]:
    model_card.write(config, workdir, d, step)
  return step


def export_bert(config, workdir: str, out: str, step: int | None = None) -> int:
  """config.json, model.safetensors (BertForMaskedLM) and tokenizer files in OUT."""
  convert.check_exportable(config.model)
  params, step = checkpointing.restore_dense_params(config, workdir, step)
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
