"""Task heads. Shapes as Hugging Face's, so a fine-tuned model exports to its classes:
ClassificationHead = BERT's pooler + classifier (tanh) or ELECTRA's classifier (GELU) on the
[CLS] position; SpanHead = qa_outputs (start and end logit per token)."""
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from mlm_jax.models import layers


class ClassificationHead(nn.Module):
  """dropout? -> dense -> activation -> dropout -> out, on the first token ([CLS]); under causal
  attention on the last real token instead, the only one that has seen the whole input (GPT's
  classification token).

  activation 'tanh' is BERT (pooler, then dropout, classifier: no dropout before the dense);
  'gelu' is ELECTRA's ElectraClassificationHead (dropout before the dense as well)."""
  cfg: Any  # the encoder's model config (width, init)
  num_labels: int
  dropout_rate: float
  activation: str  # tanh | gelu

  @nn.compact
  def __call__(self, h_BLD, deterministic: bool = True, segment_ids_BL=None):
    c = self.cfg
    if c.get('attention_pattern') == 'causal' and segment_ids_BL is not None:
      last_B = (segment_ids_BL != 0).sum(axis=1) - 1  # a fine-tuning row: one segment, then pad
      x_BD = jnp.take_along_axis(h_BLD, last_B[:, None, None], axis=1)[:, 0].astype(jnp.float32)
    else:
      x_BD = h_BLD[:, 0].astype(jnp.float32)
    if self.activation == 'gelu':
      x_BD = nn.Dropout(self.dropout_rate)(x_BD, deterministic)
    x_BD = nn.Dense(c.hidden_size, name='dense',
                    kernel_init=layers.dense_init(c.initializer_range, ('embed', 'act_embed')),
                    bias_init=layers.zeros(('act_embed',)))(x_BD)
    x_BD = jnp.tanh(x_BD) if self.activation == 'tanh' else nn.gelu(x_BD, approximate=False)
    x_BD = nn.Dropout(self.dropout_rate)(x_BD, deterministic)
    logits_BC = nn.Dense(self.num_labels, name='out',
                         kernel_init=layers.dense_init(c.initializer_range, ('act_embed', None)),
                         bias_init=layers.zeros((None,)))(x_BD)
    return logits_BC


class SpanHead(nn.Module):
  """One start and one end logit per token; padding gets a large negative logit."""
  cfg: Any

  @nn.compact
  def __call__(self, h_BLD, segment_ids_BL):
    logits_BL2 = nn.Dense(2, name='out',
                          kernel_init=layers.dense_init(self.cfg.initializer_range, ('embed', None)),
                          bias_init=layers.zeros((None,)))(h_BLD.astype(jnp.float32))
    logits_BL2 = jnp.where(segment_ids_BL[..., None] != 0, logits_BL2, -1e4)
    return logits_BL2
