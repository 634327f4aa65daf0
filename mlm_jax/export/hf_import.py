"""Start from a local Hugging Face checkpoint directory (BERT, RoBERTa, ELECTRA, ModernBERT):
architecture, weights and vocabulary. Nothing is downloaded."""
import json
import os

import numpy as np
from absl import logging

from mlm_jax.config_lib import ConfigError
from mlm_jax.export import convert, hf_names, modernbert_export
from mlm_jax.models import blocks

FAMILIES = hf_names.IMPORTABLE_MODEL_TYPES


def read_config(hf_dir: str) -> dict:
  path = os.path.join(hf_dir, 'config.json')
  if not os.path.isfile(path):
    raise ConfigError(f'init_from.hf_dir: {path} not found')
  with open(path, encoding='utf-8') as f:
    cfg = json.load(f)
  if cfg.get('model_type') not in FAMILIES:
    raise ConfigError(f'init_from.hf_dir: model_type={cfg.get("model_type")!r} in {path} is not '
                      f'one of {FAMILIES}')
  return cfg


def position_offset(hf_cfg: dict) -> int:
  """RoBERTa numbers positions from padding_idx + 1; BERT and ELECTRA from 0."""
  return hf_cfg.get('pad_token_id', 1) + 1 if hf_cfg['model_type'] == 'roberta' else 0


def imported_family(hf_cfg: dict) -> str:
  """The model.name whose parameter tree the checkpoint becomes."""
  return hf_names.IMPORTED_FAMILIES.get(hf_cfg['model_type'], hf_names.IMPORTED_FAMILY)


def model_overrides(hf_cfg: dict) -> dict:
  """model.* values implied by the checkpoint's config.json."""
  if hf_cfg['model_type'] == hf_names.MODERNBERT:
    return modernbert_export.model_overrides(hf_cfg)
  if hf_cfg.get('hidden_act', 'gelu') != 'gelu':
    raise ConfigError(f'init_from.hf_dir: hidden_act={hf_cfg["hidden_act"]!r} (only exact gelu)')
  if hf_cfg.get('position_embedding_type', 'absolute') != 'absolute':
    raise ConfigError('init_from.hf_dir: only absolute position embeddings are supported')
  emb = hf_cfg.get('embedding_size', hf_cfg['hidden_size'])
  if emb != hf_cfg['hidden_size']:
    raise ConfigError(f'init_from.hf_dir: embedding_size={emb} differs from hidden_size='
                      f'{hf_cfg["hidden_size"]} (ELECTRA embedding projection is not supported)')
  return {
      'vocab_size': hf_cfg['vocab_size'], 'hidden_size': hf_cfg['hidden_size'],
      'num_layers': hf_cfg['num_hidden_layers'], 'num_heads': hf_cfg['num_attention_heads'],
      'mlp_dim': hf_cfg['intermediate_size'],
      'max_positions': hf_cfg['max_position_embeddings'] - position_offset(hf_cfg),
      'type_vocab_size': hf_cfg.get('type_vocab_size', 2),
      'layer_norm_eps': hf_cfg.get('layer_norm_eps', 1e-12), **blocks.BERT_BLOCK,
  }


def apply_overrides(config, hf_cfg: dict) -> None:
  for key, value in model_overrides(hf_cfg).items():
    if config.model[key] != value:
      logging.info('init_from.hf_dir sets model.%s=%s (config had %s)', key, value,
                   config.model[key])
      config.model[key] = value


def read_state_dict(hf_dir: str) -> dict[str, np.ndarray]:
  st = os.path.join(hf_dir, 'model.safetensors')
  pt = os.path.join(hf_dir, 'pytorch_model.bin')
  if os.path.isfile(st):
    from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
    return load_file(st)
  if os.path.isfile(pt):
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise ConfigError(f'init_from.hf_dir={hf_dir}: pytorch_model.bin needs torch: '
                        "pip install -e '.[hf]' (or convert it to model.safetensors)") from None
    return {k: v.float().numpy() for k, v in
            torch.load(pt, map_location='cpu', weights_only=True).items()}
  raise ConfigError(f'init_from.hf_dir: neither model.safetensors nor pytorch_model.bin in {hf_dir}')


def load_params(hf_dir: str, model_cfg, expected: dict) -> tuple[dict, list[str]]:
  """Our parameter tree from the checkpoint; tensors it lacks come from EXPECTED (fresh init)."""
  hf_cfg = read_config(hf_dir)
  family = hf_cfg['model_type']
  expected = convert.unstack_layers(expected, model_cfg.num_layers)
  sd = read_state_dict(hf_dir)
  if family == hf_names.MODERNBERT:
    params, missing = modernbert_export.from_hf_state_dict(sd, model_cfg, expected)
  else:
    params, missing = _bert_params(sd, hf_cfg, model_cfg, expected)
  if missing:
    logging.warning('init_from.hf_dir: %d tensors not in the checkpoint were initialised: %s',
                    len(missing), ', '.join(missing))
  return params, missing


def _bert_params(sd: dict, hf_cfg: dict, model_cfg, expected: dict):
  """BERT, RoBERTa and ELECTRA layouts (RoBERTa's position rows shifted back)."""
  family = hf_cfg['model_type']
  prefix = family + '.'
  if not any(k.startswith(prefix) for k in sd):  # saved from the bare encoder class
    sd = {(k if k.startswith(('cls.', 'lm_head.', 'generator_')) else prefix + k): v
          for k, v in sd.items()}
  offset = position_offset(hf_cfg)
  pos = prefix + 'embeddings.position_embeddings.weight'
  if offset and pos in sd:
    sd[pos] = sd[pos][offset:]
  return convert.from_hf_state_dict(sd, model_cfg, expected, family)
