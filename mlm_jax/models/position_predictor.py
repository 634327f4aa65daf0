"""Position prediction pre-training (MP3: Zhai et al., ICML 2022), on BERT's encoder without
position embeddings: every token classifies its own position from content.

The model sees no position information at all (model.position_scheme=none is required: a
learned table, rotary or ALiBi would give the answer away). Every token is a query; only the
row's context tokens (context_BL) are attention keys and values, in every layer (MP3's masked
keys: Q = all tokens, K = V = context). A head (dense, GELU, norm, then max_positions logits)
predicts each token's position in its segment. Fine-tuning keeps the BERT encoder; MP3 adds
position embeddings back for it (finetune.add_position_embeddings).
"""
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from mlm_jax.config_lib import require
from mlm_jax.models import bert, encoder, family, layers, mlm_decoder


class PositionHead(nn.Module):
  cfg: Any

  @nn.compact
  def __call__(self, h_BLD):
    c = self.cfg
    h_BLD = bert.head_transform(c, h_BLD)
    return nn.Dense(c.max_positions, dtype=jnp.dtype(c.dtype), name='out',
                    kernel_init=layers.dense_init(c.initializer_range, ('embed', None)),
                    bias_init=layers.zeros((None,)))(h_BLD).astype(jnp.float32)


class PositionPredictor(nn.Module):
  cfg: Any

  @nn.compact
  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, context_BL=None,
               deterministic: bool = True):
    """(hidden (B, L, D), position logits (B, L, max_positions)). context_BL: tokens that are
    keys; None (or a slot array, at initialisation) is every token."""
    c = self.cfg
    if context_BL is None or context_BL.shape != input_ids_BL.shape:
      context_BL = jnp.ones(input_ids_BL.shape, bool)
    x_BLD = encoder.Embeddings(c, deterministic, name='embeddings')(input_ids_BL, positions_BL)
    x_BLD = nn.with_logical_constraint(x_BLD, ('batch', 'length', 'act_embed'))
    mask_B1LL = layers.attention_mask(segment_ids_BL) & context_BL.astype(bool)[:, None, None, :]
    hidden_BLD = encoder.Encoder(c, deterministic, name='encoder')(
        x_BLD, segment_ids_BL, positions_BL, mask_B1LL=mask_B1LL)
    return hidden_BLD, PositionHead(c, name='position_head')(hidden_BLD)


def validate(model_cfg) -> None:
  m = model_cfg
  require(m.position_scheme == 'none', f'model.position_scheme={m.position_scheme!r}: position '
          'prediction needs a model without position information (none)')
  mlm_decoder.refuse(m)


def pass_flops(model_cfg, seq_len: int) -> dict[str, float]:
  d = model_cfg.hidden_size
  return {'encoder': encoder.forward_flops_per_token(model_cfg, seq_len),
          'position_head': 2 * (d * d + d * model_cfg.max_positions)}


FAMILY = family.ModelFamily(
    module=PositionPredictor, encoder=bert.encoder_module, encoder_params=bert.encoder_params,
    pass_flops=pass_flops, validate=validate, downstream='BERT encoder',
    provides=(family.POSITION_PREDICTOR,), hf_layout=bert.FAMILY.hf_layout, hf=bert.FAMILY.hf)
