"""Pre-training-only MLM decoder (DrBERT, later BPDec: Liang & Liang 2024): transformer blocks
between the encoder and the MLM head, dropped for fine-tuning and export, so the downstream
encoder and its cost are BERT's.

- model.mlm_decoder_layers blocks (the encoder's own block, attention pattern included) over
  the encoder's last hidden states; the MLM head reads the decoder's output.
- Gradual Unmasking Attention (GUA): in the first decoder block the positions being predicted
  are hidden as attention keys except a random model.mlm_decoder_unmask_fraction of them; from
  the second block on every key is visible again.
- Output randomness: in training, each predicted position's head input is the encoder's output
  instead of the decoder's with probability model.mlm_decoder_encoder_mix.

Readings of ours (we could read the abstract and reviews, not the method section; no code is
public): the decoder takes the encoder output without re-adding position embeddings; the
first-block key mask is drawn per row and position; at evaluation no prediction key is
unmasked in the first block and the encoder-output mix is off; the defaults (2 blocks, half
unmasked, 10% mix) are ours, not the paper's.
"""
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from mlm_jax.config_lib import require
from mlm_jax.models import attention, blocks


def predicted_keys(masked_positions_BP, length: int) -> jax.Array:
  """(B, L) True at predicted positions. Slot position 0 is an unused slot: row index 0 holds a
  [CLS], which is never predicted."""
  B = masked_positions_BP.shape[0]
  flags_BL = jnp.zeros((B, length), bool).at[jnp.arange(B)[:, None], masked_positions_BP].set(True)
  return flags_BL.at[:, 0].set(False)


class MlmDecoder(nn.Module):
  cfg: Any
  deterministic: bool

  @nn.compact
  def __call__(self, h_BLD, segment_ids_BL, positions_BL, masked_positions_BP, prefix_len_B=None):
    c = self.cfg
    B, L, _ = h_BLD.shape
    mask_B1LL = attention.pattern_mask(c.attention_pattern, segment_ids_BL, positions_BL,
                                       c.attention_window, prefix_len_B)
    hidden_BL = jnp.zeros((B, L), bool)
    if masked_positions_BP is not None:
      hidden_BL = predicted_keys(masked_positions_BP, L)
      if not self.deterministic and c.mlm_decoder_unmask_fraction > 0:
        shown_BL = jax.random.bernoulli(self.make_rng('dropout'), c.mlm_decoder_unmask_fraction,
                                        (B, L))
        hidden_BL = hidden_BL & ~shown_BL
    first_B1LL = mask_B1LL & ~hidden_BL[:, None, None, :]
    for i in range(c.mlm_decoder_layers):
      h_BLD, _ = blocks.TransformerLayer(c, self.deterministic, name=f'layers_{i}')(
          h_BLD, first_B1LL if i == 0 else mask_B1LL, positions_BL)
    return h_BLD


def mix_encoder_output(rng, encoder_BPD, decoder_BPD, fraction: float):
  """Per predicted position, the encoder's output with probability FRACTION."""
  take_BP1 = jax.random.bernoulli(rng, fraction, encoder_BPD.shape[:2])[..., None]
  return jnp.where(take_BP1, encoder_BPD, decoder_BPD)


def validate(m) -> None:
  require(m.mlm_decoder_layers >= 0,
          f'model.mlm_decoder_layers={m.mlm_decoder_layers} must be >= 0')
  for key in ('mlm_decoder_unmask_fraction', 'mlm_decoder_encoder_mix'):
    require(0 <= m[key] <= 1, f'model.{key}={m[key]} must be in [0, 1]')


def refuse(m) -> None:
  """Families whose MLM head does not run the decoder say so instead of ignoring the key."""
  require(m.mlm_decoder_layers == 0, f'model.mlm_decoder_layers={m.mlm_decoder_layers}: model.name='
          f'{m.name!r} has no MLM decoder (only BertForMaskedLM runs one)')
