"""ModernBERT <-> transformers' ModernBertForMaskedLM: the name map, config.json both ways, and
the export writer (models/modernbert.py names it). Fused tensors: Wqkv is [q; k; v] stacked on
the output axis (each (H*K, D)), Wi is [GeGLU input (activated); gate] (each (F, D)) — ours
keep them as separate kernels (wi_0 is the activated one)."""
import json
import os

import numpy as np
from safetensors.numpy import save_file

from mlm_jax.config_lib import ConfigError
from mlm_jax.export import convert, hf_names

MODEL_TYPE = 'modernbert'
_L = 'model.layers.{i}.'
_O = 'encoder/layers_{i}/'
SINGLE = [  # HF name, our path, layout (hf_names.to_hf / to_ours)
    ('model.embeddings.tok_embeddings.weight', 'embeddings/word_embeddings/embedding', 'copy'),
    ('model.embeddings.norm.weight', 'embeddings/norm/scale', 'copy'),
    ('model.final_norm.weight', 'encoder/final_norm/scale', 'copy'),
    ('head.dense.weight', 'mlm_head/transform/kernel', 'linear'),
    ('head.norm.weight', 'mlm_head/norm/scale', 'copy'),
    ('decoder.bias', 'mlm_head/bias', 'copy'),
]
LAYER = [
    (_L + 'attn.Wo.weight', _O + 'attention/out/kernel', 'attn_out'),
    (_L + 'mlp_norm.weight', _O + 'mlp_norm/scale', 'copy'),
    (_L + 'mlp.Wo.weight', _O + 'mlp/wo/kernel', 'linear'),
]
ATTN_NORM = (_L + 'attn_norm.weight', _O + 'attention_norm/scale')  # layers 1.. (0: Identity)
QKV = (_L + 'attn.Wqkv.weight', [_O + 'attention/' + n + '/kernel' for n in ('query', 'key', 'value')])
WI = (_L + 'mlp.Wi.weight', [_O + 'mlp/wi_0/kernel', _O + 'mlp/wi_1/kernel'])
TIED = {'decoder.weight': 'model.embeddings.tok_embeddings.weight'}


def to_hf_state_dict(params: dict, model_cfg) -> dict[str, np.ndarray]:
  p = convert.unstack_layers(convert.map_tree(np.asarray, params), model_cfg.num_layers)
  get = lambda path: convert.get_path(p, path)  # noqa: E731
  out = {hf: hf_names.to_hf(kind, get(ours)) for hf, ours, kind in SINGLE}
  for i in range(model_cfg.num_layers):
    for hf, ours, kind in LAYER:
      out[hf.format(i=i)] = hf_names.to_hf(kind, get(ours.format(i=i)))
    if i:
      out[ATTN_NORM[0].format(i=i)] = get(ATTN_NORM[1].format(i=i))
    out[QKV[0].format(i=i)] = np.concatenate(
        [hf_names.to_hf('qkv', get(o.format(i=i))) for o in QKV[1]], axis=0)
    out[WI[0].format(i=i)] = np.concatenate(
        [hf_names.to_hf('linear', get(o.format(i=i))) for o in WI[1]], axis=0)
  return {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}


def from_hf_state_dict(sd: dict, model_cfg, expected: dict) -> tuple[dict, list[str]]:
  """Our tree (EXPECTED: a fresh unscanned tree giving shapes and the values of what the
  checkpoint lacks) and the names it lacked; a shape mismatch names the tensor."""
  params, missing = {}, []
  heads = model_cfg.num_heads

  def put(hf, ours, value):
    want = np.shape(convert.get_path(expected, ours))
    if value.shape != want:
      raise ConfigError(f'tensor {hf}: shape {value.shape} in the checkpoint, {want} in the model')
    convert.set_path(params, ours, value)

  rows = list(SINGLE)
  for i in range(model_cfg.num_layers):
    rows += [(hf.format(i=i), ours.format(i=i), kind) for hf, ours, kind in LAYER]
    if i:
      rows.append((ATTN_NORM[0].format(i=i), ATTN_NORM[1].format(i=i), 'copy'))
  for hf, ours, kind in rows:
    if hf in sd:
      put(hf, ours, hf_names.to_ours(kind, np.asarray(sd[hf], np.float32), heads))
    else:
      missing.append(hf)
      convert.set_path(params, ours, np.asarray(convert.get_path(expected, ours)))
  for i in range(model_cfg.num_layers):
    for (hf, parts), kind in ((QKV, 'qkv'), (WI, 'linear')):
      hf = hf.format(i=i)
      if hf not in sd:
        missing.append(hf)
        for o in parts:
          convert.set_path(params, o.format(i=i), np.asarray(convert.get_path(expected, o.format(i=i))))
        continue
      for o, w in zip(parts, np.split(np.asarray(sd[hf], np.float32), len(parts), axis=0)):
        put(hf, o.format(i=i), hf_names.to_ours(kind, w, heads))
  if model_cfg.num_layers:  # layer 0's attention norm is an Identity in ModernBERT: ones
    o = ATTN_NORM[1].format(i=0)
    if _has_path(expected, o):
      convert.set_path(params, o, np.ones_like(np.asarray(convert.get_path(expected, o))))
  if model_cfg.scan_layers:
    params = convert.stack_layers(params, model_cfg.num_layers)
  return params, missing


def _has_path(tree, path: str) -> bool:
  try:
    convert.get_path(tree, path)
    return True
  except KeyError:
    return False


def layer_types(model_cfg) -> list[str]:
  every = model_cfg.global_attention_every
  return ['full_attention' if i % every == 0 else 'sliding_attention'
          for i in range(model_cfg.num_layers)]


def hf_config(model_cfg, special: dict) -> dict:
  c = model_cfg
  return {
      'architectures': ['ModernBertForMaskedLM'], 'model_type': MODEL_TYPE,
      'vocab_size': c.vocab_size, 'hidden_size': c.hidden_size, 'num_hidden_layers': c.num_layers,
      'num_attention_heads': c.num_heads, 'intermediate_size': c.mlp_dim,
      'hidden_activation': 'gelu', 'max_position_embeddings': c.max_positions,
      'initializer_range': c.initializer_range, 'norm_eps': c.layer_norm_eps, 'norm_bias': False,
      'attention_bias': False, 'mlp_bias': False, 'classifier_bias': False, 'decoder_bias': True,
      'attention_dropout': c.attention_dropout_rate, 'mlp_dropout': c.dropout_rate,
      'embedding_dropout': c.dropout_rate, 'local_attention': c.attention_window,
      'global_attn_every_n_layers': c.global_attention_every, 'layer_types': layer_types(c),
      'rope_parameters': {
          'full_attention': {'rope_type': 'default', 'rope_theta': c.rotary_base},
          'sliding_attention': {'rope_type': 'default',
                                'rope_theta': c.local_rotary_base or c.rotary_base}},
      'pad_token_id': special['pad'], 'cls_token_id': special['cls'],
      'sep_token_id': special['sep'], 'bos_token_id': special['cls'],
      'eos_token_id': special['sep'], 'tie_word_embeddings': True, 'torch_dtype': 'float32',
  }


def twin_config(model_cfg) -> dict:
  """ModernBertForMaskedLM's config.json at MODEL_CFG's dimensions (benchmark --torch): its
  default dense prediction head (logits at every position)."""
  return hf_config(model_cfg, {'pad': 0, 'cls': 2, 'sep': 3})


def model_overrides(hf_cfg: dict) -> dict:
  """model.* values a ModernBertForMaskedLM config.json implies (one-line errors for what our
  ModernBERT layout cannot represent)."""
  where = 'init_from.hf_dir'
  for key, want in (('hidden_activation', 'gelu'), ('norm_bias', False), ('attention_bias', False),
                    ('mlp_bias', False), ('classifier_bias', False), ('decoder_bias', True),
                    ('classifier_activation', 'gelu'), ('tie_word_embeddings', True)):
    if hf_cfg.get(key, want) != want:
      raise ConfigError(f'{where}: {key}={hf_cfg[key]!r} in config.json (ModernBERT here has '
                        f'{key}={want!r})')
  n = hf_cfg['num_hidden_layers']
  types = hf_cfg.get('layer_types')
  every = hf_cfg.get('global_attn_every_n_layers', 3)
  if types:
    global_at = [i for i, t in enumerate(types) if t == 'full_attention']
    every = global_at[1] - global_at[0] if len(global_at) > 1 else n
    if global_at != list(range(0, n, every)):
      raise ConfigError(f'{where}: layer_types has global layers at {global_at}, not every k-th')
  rope = hf_cfg.get('rope_parameters') or {}
  full = (rope.get('full_attention') or {}).get('rope_theta', hf_cfg.get('global_rope_theta', 160000.0))
  local = (rope.get('sliding_attention') or {}).get('rope_theta', hf_cfg.get('local_rope_theta', 10000.0))
  return {
      'name': 'modernbert', 'vocab_size': hf_cfg['vocab_size'], 'hidden_size': hf_cfg['hidden_size'],
      'num_layers': n, 'num_heads': hf_cfg['num_attention_heads'],
      'mlp_dim': hf_cfg['intermediate_size'], 'max_positions': hf_cfg['max_position_embeddings'],
      'type_vocab_size': 0, 'layer_norm_eps': hf_cfg.get('norm_eps', 1e-5),
      'pre_layer_norm': True, 'first_attention_norm': False, 'use_bias': False,
      'norm_kind': 'layernorm', 'mlp_kind': 'geglu', 'position_scheme': 'rotary',
      'rotary_base': float(full), 'local_rotary_base': float(local),
      'attention_pattern': 'sliding_window', 'attention_window': hf_cfg.get('local_attention', 128),
      'global_attention_every': every, 'bidirectional_layers': '',
  }


def export_modernbert(config, workdir: str, out: str, step: int | None = None) -> int:
  """config.json, model.safetensors (ModernBertForMaskedLM) and tokenizer files in OUT."""
  # Imported here: hf_import (this module's other user, on every run's start) must not pull in
  # checkpointing or transformers.
  from mlm_jax import checkpointing  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import workdir_vocab  # pylint: disable=g-import-not-at-top
  from mlm_jax.export import tokenizer  # pylint: disable=g-import-not-at-top
  params, step = checkpointing.restore_dense_params(config, workdir, step)
  tok, tokens = tokenizer.for_vocab(workdir_vocab.run_vocab_path(config, workdir))
  tensors = to_hf_state_dict(params, config.model)
  os.makedirs(out, exist_ok=True)
  save_file(tensors, os.path.join(out, 'model.safetensors'), metadata={'format': 'pt'})
  hf_cfg = hf_config(config.model, {'pad': tokens.pad, 'cls': tokens.cls, 'sep': tokens.sep})
  with open(os.path.join(out, 'config.json'), 'w', encoding='utf-8') as f:
    json.dump(hf_cfg, f, indent=2)
  tok.model_max_length = config.model.max_positions
  tok.save_pretrained(out)
  return step
