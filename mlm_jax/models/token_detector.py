"""BERT encoder with a per-token binary head: was this token substituted? (RTS, C-RTS).

The head is ELECTRA's discriminator head (dense, GELU, one logit per token; the same module), a
fraction of the cost of an MLM head's projection onto the vocabulary.
"""
from typing import Any

from flax import linen as nn

from mlm_jax.models import bert, encoder, family, mlm_decoder
from mlm_jax.models.electra import DiscriminatorHead


class BertTokenDetector(nn.Module):
  """Same call signature as BertForMaskedLM (masked_positions is accepted and unused), so
  state.init_variables and the train loop need nothing new. Returns (hidden_BLD, logits_BL)."""
  cfg: Any

  @nn.compact
  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, masked_positions_BP=None,
               token_type_ids_BL=None, deterministic: bool = True, prefix_len_B=None):
    del masked_positions_BP
    c = self.cfg
    emb = encoder.Embeddings(c, deterministic, name='embeddings')
    x_BLD = emb(input_ids_BL, positions_BL, token_type_ids_BL)
    x_BLD = nn.with_logical_constraint(x_BLD, ('batch', 'length', 'act_embed'))
    hidden_BLD = encoder.Encoder(c, deterministic, name='encoder')(
        x_BLD, segment_ids_BL, positions_BL, prefix_len_B)
    return hidden_BLD, DiscriminatorHead(c, name='detection_head')(hidden_BLD)


def token_embeddings(params):
  """The (V, D) token embedding table of a BERT-family parameter tree (both models here)."""
  return params['embeddings']['word_embeddings']['embedding']


def pass_flops(model_cfg, seq_len: int) -> dict[str, float]:
  """Forward FLOPs per token: the encoder and the per-token detection head (d -> d -> 1)."""
  d = model_cfg.hidden_size
  return {'encoder': encoder.forward_flops_per_token(model_cfg, seq_len),
          'detection_head': 2 * (d * d + d)}


FAMILY = family.ModelFamily(
    module=BertTokenDetector, encoder=bert.encoder_module, encoder_params=bert.encoder_params,
    hf_layout=bert.FAMILY.hf_layout, pass_flops=pass_flops,
    validate=mlm_decoder.refuse, downstream='token-detector encoder',
    provides=(family.TOKEN_DETECTOR,))
