"""ModernBERT (Warner et al. 2024, "Smarter, Better, Faster, Longer"): the BERT module in
ModernBERT's block layout, exported to and imported from transformers' ModernBertForMaskedLM.

Layout (what validate requires, configs/modernbert.py sets): pre-LN with a final norm, the
first layer's attention input not normed again (the embedding norm did it), LayerNorm without
biases and no biases anywhere else except the decoder's, GeGLU MLP, rotary positions (base
160000 in global layers, 10000 in the local ones), attention within a sliding window of
model.attention_window (128) with every model.global_attention_every-th layer (3) global, no
position or token-type tables. The MLM head is BERT's (dense, GELU, norm, tied decoder + bias),
which is ModernBERT's.
"""
import dataclasses

from mlm_jax.config_lib import require
from mlm_jax.models import bert, family

LAYOUT = {'pre_layer_norm': True, 'first_attention_norm': False, 'use_bias': False,
          'norm_kind': 'layernorm', 'mlp_kind': 'geglu', 'position_scheme': 'rotary',
          'attention_pattern': 'sliding_window', 'type_vocab_size': 0, 'mlm_decoder_layers': 0,
          'bidirectional_layers': '', 'head_transform_bias': False}


def validate(model_cfg) -> None:
  bert.FAMILY.validate(model_cfg)
  for key, value in FAMILY.layout.items():
    require(model_cfg[key] == value, f'model.{key}={model_cfg[key]!r}: model.name=modernbert has '
            f'ModernBERT\'s layout ({key}={value!r}; configs/modernbert.py sets it)')
  require(model_cfg.global_attention_every > 0,  # not in LAYOUT: any k > 0
          f'model.global_attention_every={model_cfg.global_attention_every}: ModernBERT has '
          'global layers (3: layers 0, 3, 6, ...)')


FAMILY = dataclasses.replace(
    bert.FAMILY, validate=validate, downstream='ModernBERT encoder', hf_layout='', layout=LAYOUT,
    hf=family.HfExport(classes=('ModernBertForMaskedLM',),
                       writer='mlm_jax.export.modernbert_export:export_modernbert',
                       twin='mlm_jax.export.modernbert_export:twin_config'))
