"""ELECTRA runs to Hugging Face: the discriminator as ElectraForPreTraining and the generator as
ElectraForMaskedLM, in OUT/discriminator and OUT/generator, each with its tokenizer.

Both views share the run's embeddings; under GDES the discriminator's token table is written
as E_gen + E_delta and its own position/type tables and LayerNorm are used.
"""
import json
import os

import jax
import numpy as np
from safetensors.numpy import save_file

from mlm_jax import checkpointing
from mlm_jax.config_lib import ConfigError
from mlm_jax.data import workdir_vocab
from mlm_jax.export import convert, hf_names, tokenizer
from mlm_jax.models import blocks
from mlm_jax.models import electra as electra_model

PROJECT = [('electra.embeddings_project.weight', 'embeddings_project/kernel', 'linear'),
           ('electra.embeddings_project.bias', 'embeddings_project/bias', 'copy')]
DISC_HEAD = [
    ('discriminator_predictions.dense.weight', 'head/dense/kernel', 'linear'),
    ('discriminator_predictions.dense.bias', 'head/dense/bias', 'copy'),
    ('discriminator_predictions.dense_prediction.weight', 'head/prediction/kernel', 'linear'),
    ('discriminator_predictions.dense_prediction.bias', 'head/prediction/bias', 'copy'),
]
GEN_HEAD = hf_names.HEADS['electra'][1]
TIED = ('generator_lm_head.weight', 'electra.embeddings.word_embeddings.weight')
PARTS = ('discriminator', 'generator')


def _view(params: dict, model_cfg, part: str) -> dict:
  """A BERT-shaped tree (embeddings, encoder, head, embeddings_project) for one part."""
  emb = params['embeddings']
  if part == 'discriminator' and model_cfg.embedding_sharing == 'gdes':
    emb = jax.tree.map(np.asarray, electra_model.gdes_disc_embeddings(emb,
                                                                      params['disc_embeddings']))
  return convert.unstack_layers({'embeddings': emb, **params[part]}, model_cfg.num_layers)


def part_config(model_cfg, part: str):
  return model_cfg if part == 'discriminator' else electra_model.generator_config(model_cfg)


def to_hf_state_dicts(params: dict, model_cfg) -> dict[str, dict[str, np.ndarray]]:
  """{'discriminator': state dict, 'generator': state dict (with the tied decoder weight)}."""
  if model_cfg.pre_layer_norm:
    raise ConfigError('model.pre_layer_norm=True has no equivalent in Hugging Face ELECTRA (post-LN)')
  if blocks.non_bert_settings(model_cfg):
    raise ConfigError(f'{", ".join(blocks.non_bert_settings(model_cfg))}: no equivalent in '
                      'Hugging Face ELECTRA (a BERT block only)')
  params = convert.map_tree(np.asarray, params)
  out = {}
  for part in PARTS:
    cfg = part_config(model_cfg, part)
    view = _view(params, model_cfg, part)
    rows = hf_names.table(cfg, 'electra')[:-len(GEN_HEAD)]
    rows += PROJECT if 'embeddings_project' in view else []
    rows += DISC_HEAD if part == 'discriminator' else GEN_HEAD
    sd = {hf: np.ascontiguousarray(hf_names.to_hf(kind, convert.get_path(view, ours)), np.float32)
          for hf, ours, kind in rows}
    if not cfg.type_vocab_size:  # HF always has a type embedding: make it zero
      sd['electra.embeddings.token_type_embeddings.weight'] = np.zeros(
          (1, electra_model.embedding_size(model_cfg)), np.float32)
    if part == 'generator':
      sd[TIED[0]] = sd[TIED[1]]
    out[part] = sd
  return out


def hf_configs(model_cfg, special: dict) -> dict[str, dict]:
  """config.json of each part."""
  out = {}
  for part in PARTS:
    c = part_config(model_cfg, part)
    out[part] = {
        'architectures': ['ElectraForPreTraining' if part == 'discriminator'
                          else 'ElectraForMaskedLM'],
        'model_type': 'electra', 'vocab_size': c.vocab_size,
        'embedding_size': electra_model.embedding_size(model_cfg), 'hidden_size': c.hidden_size,
        'num_hidden_layers': c.num_layers, 'num_attention_heads': c.num_heads,
        'intermediate_size': c.mlp_dim, 'hidden_act': 'gelu',
        'hidden_dropout_prob': c.dropout_rate,
        'attention_probs_dropout_prob': c.attention_dropout_rate,
        'max_position_embeddings': c.max_positions, 'type_vocab_size': max(c.type_vocab_size, 1),
        'initializer_range': c.initializer_range, 'layer_norm_eps': c.layer_norm_eps,
        'position_embedding_type': 'absolute', 'pad_token_id': special['pad'],
        'tie_word_embeddings': True, 'torch_dtype': 'float32',
    }
  return out


def export(config, workdir: str, out: str, step: int | None = None) -> int:
  """Writes OUT/discriminator and OUT/generator; returns the exported step."""
  params, step = checkpointing.restore_dense_params(config, workdir, step)
  tok, tokens = tokenizer.for_vocab(workdir_vocab.run_vocab_path(config, workdir))
  state_dicts = to_hf_state_dicts(params, config.model)
  configs = hf_configs(config.model, {'pad': tokens.pad})
  for part in PARTS:
    d = os.path.join(out, part)
    os.makedirs(d, exist_ok=True)
    tensors = dict(state_dicts[part])
    tensors.pop(TIED[0], None)  # tied: transformers re-ties it on load
    save_file(tensors, os.path.join(d, 'model.safetensors'), metadata={'format': 'pt'})
    with open(os.path.join(d, 'config.json'), 'w', encoding='utf-8') as f:
      json.dump(configs[part], f, indent=2)
    tok.model_max_length = config.model.max_positions
    tok.save_pretrained(d)
  return step
