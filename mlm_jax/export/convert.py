"""Weight conversion between mlm_jax parameter trees and Hugging Face state dicts."""
import numpy as np

from mlm_jax.config_lib import ConfigError
from mlm_jax.export import hf_names
from mlm_jax.models import blocks

def unstack_layers(params: dict, num_layers: int) -> dict:
  """Scanned encoder (encoder/layers/... with a leading layer axis) -> layers_{i}."""
  enc = params['encoder']
  if 'layers' not in enc:
    return params
  rest = {k: v for k, v in enc.items() if k != 'layers'}
  for i in range(num_layers):
    rest[f'layers_{i}'] = map_tree(lambda x, i=i: x[i], enc['layers'])
  return {**params, 'encoder': rest}


def stack_layers(params: dict, num_layers: int) -> dict:
  enc = dict(params['encoder'])
  layers = [enc.pop(f'layers_{i}') for i in range(num_layers)]
  enc['layers'] = map_tree(lambda *xs: np.stack(xs), *layers)
  return {**params, 'encoder': enc}


def map_tree(fn, *trees):
  if isinstance(trees[0], dict):
    return {k: map_tree(fn, *(t[k] for t in trees)) for k in trees[0]}
  return fn(*trees)


def get_path(tree: dict, path: str):
  for part in path.split('/'):
    tree = tree[part]
  return tree


def set_path(tree: dict, path: str, value) -> None:
  *parents, leaf = path.split('/')
  for part in parents:
    tree = tree.setdefault(part, {})
  tree[leaf] = value


def check_exportable(model_cfg) -> None:
  """Refuses, in one line, options Hugging Face's BertForMaskedLM cannot represent."""
  if model_cfg.pre_layer_norm:
    raise ConfigError('model.pre_layer_norm=True has no equivalent in BertForMaskedLM (post-LN)')
  if blocks.non_bert_settings(model_cfg):
    raise ConfigError(f'{", ".join(blocks.non_bert_settings(model_cfg))}: no equivalent in '
                      'BertForMaskedLM (a BERT block only)')


def to_hf_state_dict(params: dict, model_cfg) -> dict[str, np.ndarray]:
  check_exportable(model_cfg)
  params = unstack_layers(map_tree(np.asarray, params), model_cfg.num_layers)
  out = {}
  for hf, ours, kind in hf_names.table(model_cfg):
    out[hf] = np.ascontiguousarray(hf_names.to_hf(kind, get_path(params, ours)), np.float32)
  if not model_cfg.type_vocab_size:  # HF always adds a type embedding: make it zero
    out[hf_names.TOKEN_TYPE[0][0]] = np.zeros((1, model_cfg.hidden_size), np.float32)
  for name, source in hf_names.TIED_ON_EXPORT.items():
    out[name] = out[source]
  return out


def from_hf_state_dict(state_dict: dict, model_cfg, expected: dict | None = None,
                       family: str = 'bert') -> tuple[dict, list[str]]:
  """HF tensors -> our parameter tree. Returns (params, names missing from the checkpoint).

  EXPECTED (our freshly initialised params, unscanned) supplies shapes to check and the values
  of missing tensors; a shape mismatch is an error naming the tensor.
  """
  params, missing = {}, []
  for hf, ours, kind in hf_names.table(model_cfg, family):
    if hf not in state_dict:
      if expected is None:
        raise ConfigError(f'Hugging Face checkpoint has no tensor {hf}')
      missing.append(hf)
      set_path(params, ours, np.asarray(get_path(expected, ours)))
      continue
    value = hf_names.to_ours(kind, np.asarray(state_dict[hf], np.float32), model_cfg.num_heads)
    if expected is not None and value.shape != np.shape(get_path(expected, ours)):
      raise ConfigError(f'tensor {hf}: shape {value.shape} in the checkpoint, '
                        f'{np.shape(get_path(expected, ours))} in the model')
    set_path(params, ours, value)
  if model_cfg.scan_layers:
    params = stack_layers(params, model_cfg.num_layers)
  return params, missing


def hf_config(model_cfg, vocab_size: int, special: dict) -> dict:
  """config.json for BertForMaskedLM."""
  c = model_cfg
  return {
      'architectures': ['BertForMaskedLM'], 'model_type': 'bert',
      'vocab_size': vocab_size, 'hidden_size': c.hidden_size, 'num_hidden_layers': c.num_layers,
      'num_attention_heads': c.num_heads, 'intermediate_size': c.mlp_dim,
      'hidden_act': 'gelu', 'hidden_dropout_prob': c.dropout_rate,
      'attention_probs_dropout_prob': c.attention_dropout_rate,
      'max_position_embeddings': c.max_positions, 'type_vocab_size': max(c.type_vocab_size, 1),
      'initializer_range': c.initializer_range, 'layer_norm_eps': c.layer_norm_eps,
      'pad_token_id': special['pad'], 'tie_word_embeddings': True, 'torch_dtype': 'float32',
  }


def twin_config(model_cfg) -> dict:
  """BertForMaskedLM's config.json at MODEL_CFG's dimensions (tools/benchmark.py --torch)."""
  return hf_config(model_cfg, model_cfg.vocab_size, {'pad': 0})
