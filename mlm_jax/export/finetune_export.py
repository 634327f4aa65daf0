"""Fine-tuned workdirs to transformers: BertForSequenceClassification / BertForQuestionAnswering
(BERT and token-detector encoders, Hugging Face imports) and ElectraForSequenceClassification /
ElectraForQuestionAnswering (ELECTRA discriminators), with the encoder rows of hf_names'
tables. Generative (MLM-head) runs export as BertForMaskedLM.

The classification head is BERT's pooler + classifier when finetune.head_activation is tanh and
ELECTRA's classifier.dense + classifier.out_proj when it is gelu; BERT needs tanh, ELECTRA gelu.
"""
import json
import os

import numpy as np
from safetensors.numpy import save_file

from mlm_jax import models
from mlm_jax.config_lib import ConfigError
from mlm_jax.export import convert, hf_names

PROJECT, HEADS, CLASSES = (hf_names.FINETUNE_PROJECT, hf_names.FINETUNE_HEADS,
                          hf_names.FINETUNE_CLASSES)


def family(model_cfg) -> str:
  """The transformers model_type the run's encoder exports as (its family's hf_layout)."""
  layout = models.family(model_cfg).hf_layout
  if not layout:
    raise ConfigError(f'model.name={model_cfg.name!r}: no transformers layout for its encoder')
  return layout


def check(model_cfg, kind: str, activation: str) -> None:
  fam = family(model_cfg)
  if model_cfg.pre_layer_norm:
    raise ConfigError('model.pre_layer_norm=True has no equivalent in transformers (post-LN)')
  want = hf_names.FINETUNE_HEAD_ACTIVATION[fam]
  if kind == 'classification' and activation != want:
    raise ConfigError(f'finetune.head_activation={activation!r} has no {CLASSES[fam, kind]} '
                      f'equivalent (use {want})')
  if (fam, kind) not in CLASSES:
    raise ConfigError(f'no transformers class for a {kind} head on model.name={model_cfg.name!r}')


def to_hf_state_dict(params: dict, model_cfg, kind: str, activation: str) -> dict:
  """Our fine-tuning tree ({'backbone', 'head'}) -> the transformers class's state dict."""
  check(model_cfg, kind, activation)
  fam = family(model_cfg)
  params = convert.map_tree(np.asarray, params)
  backbone = convert.unstack_layers(params['backbone'], model_cfg.num_layers)
  if kind == 'generative':
    tree = {'embeddings': backbone['embeddings'], 'encoder': backbone['encoder'],
            'mlm_head': backbone['head']}
    sd = convert.to_hf_state_dict(tree, model_cfg)
    return sd
  rows = hf_names.table(model_cfg, fam)[:-len(hf_names.HEADS[fam][1])]
  if 'embeddings_project' in backbone:
    rows += [(f'{fam}.{hf}', ours, k) for hf, ours, k in PROJECT]
  get = convert.get_path
  out = {hf: hf_names.to_hf(k, get(backbone, ours)) for hf, ours, k in rows}
  out.update({hf: hf_names.to_hf(k, get(params['head'], ours)) for hf, ours, k in HEADS[fam, kind]})
  if not model_cfg.type_vocab_size:
    width = backbone['embeddings']['word_embeddings']['embedding'].shape[1]
    out[f'{fam}.embeddings.token_type_embeddings.weight'] = np.zeros((1, width), np.float32)
  return {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}


def hf_config(model_cfg, kind: str, num_labels: int, regression: bool, special: dict) -> dict:
  fam = family(model_cfg)
  if fam == hf_names.ELECTRA:  # ELECTRA's config.json (embedding_size and all)
    from mlm_jax.export import electra_export  # pylint: disable=g-import-not-at-top
    cfg = electra_export.hf_configs(model_cfg, special)['discriminator']
  else:
    cfg = convert.hf_config(model_cfg, model_cfg.vocab_size, special)
  cfg['architectures'] = [CLASSES[fam, kind]]
  if kind == 'classification':
    cfg['num_labels'] = num_labels
    cfg['id2label'] = {str(i): f'LABEL_{i}' for i in range(num_labels)}
    cfg['label2id'] = {f'LABEL_{i}': i for i in range(num_labels)}
    cfg['problem_type'] = 'regression' if regression else 'single_label_classification'
    cfg['classifier_dropout'] = None
  return cfg


def export(workdir: str, out: str, step: int | None = None) -> int:
  """Writes config.json, model.safetensors and the tokenizer of a fine-tuned workdir to OUT."""
  from mlm_jax.export import tokenizer  # pylint: disable=g-import-not-at-top
  from mlm_jax.finetune import evaluate  # pylint: disable=g-import-not-at-top
  config, data, params, step = evaluate.restore_workdir(workdir, step)
  f = config.finetune
  check(config.model, data.kind, f.head_activation)
  tok, tokens = tokenizer.for_vocab(config.data.vocab_path)
  sd = to_hf_state_dict(params, config.model, data.kind, f.head_activation)
  sd.pop('cls.predictions.decoder.weight', None)  # tied: transformers re-ties it on load
  os.makedirs(out, exist_ok=True)
  save_file(sd, os.path.join(out, 'model.safetensors'), metadata={'format': 'pt'})
  cfg = hf_config(config.model, data.kind, data.num_labels, data.regression, {'pad': tokens.pad})
  with open(os.path.join(out, 'config.json'), 'w', encoding='utf-8') as fh:
    json.dump(cfg, fh, indent=2)
  tok.model_max_length = config.model.max_positions
  tok.save_pretrained(out)
  return step
