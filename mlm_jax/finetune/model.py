"""A pre-trained family's encoder plus one task head, with the pre-training models' call
signature, so mlm_jax.state builds, shards and initialises it unchanged.

Parameters: {'backbone': the family's encoder subtree (encoders.py), 'head': the task head}.
"""
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from mlm_jax.finetune import encoders, heads

KINDS = ('classification', 'span', 'generative')


class FinetuneModel(nn.Module):
  """kind classification -> logits (B, C); span -> (B, L, 2); generative -> vocabulary logits (B, V)
  at masked_positions_BP[:, 0] (generative classification)."""
  cfg: Any  # the encoder's model config
  kind: str
  num_labels: int = 1
  dropout_rate: float = 0.1
  activation: str = 'tanh'

  @nn.compact
  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, masked_positions_BP=None,
               token_type_ids_BL=None, deterministic: bool = True):
    if self.kind not in KINDS:
      raise ValueError(f'kind={self.kind!r} must be one of {KINDS}')
    backbone = encoders.encoder_module(self.cfg, deterministic, mlm_head=self.kind == 'generative',
                                       name='backbone')
    hidden_BLD = backbone(input_ids_BL, segment_ids_BL, positions_BL, token_type_ids_BL)
    if self.kind == 'classification':
      return heads.ClassificationHead(self.cfg, self.num_labels, self.dropout_rate,
                                      self.activation, name='head')(hidden_BLD, deterministic,
                                                                    segment_ids_BL)
    if self.kind == 'span':
      return heads.SpanHead(self.cfg, name='head')(hidden_BLD, segment_ids_BL)
    if masked_positions_BP is None:
      masked_positions_BP = jnp.zeros((input_ids_BL.shape[0], 1), jnp.int32)
    h_B1D = jnp.take_along_axis(hidden_BLD, masked_positions_BP[:, :1, None], axis=1)
    return backbone.mlm_logits(h_B1D)[:, 0]
