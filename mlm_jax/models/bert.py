"""BERT for masked-LM pre-training: encoder + MLM head evaluated at chosen positions only."""
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from mlm_jax.models import encoder, family, layers, mlm_decoder


def head_transform(c, h_BPD):
  """BERT's prediction-head transform: Dense 'transform' + GELU + norm 'norm', created in the
  calling compact module (every pre-training head starts with it)."""
  h_BPD = nn.Dense(c.hidden_size, dtype=jnp.dtype(c.dtype), name='transform',
                   use_bias=c.head_transform_bias,
                   kernel_init=layers.dense_init(c.initializer_range, ('embed', 'act_embed')),
                   bias_init=layers.zeros(('embed',)))(h_BPD)
  h_BPD = nn.gelu(h_BPD, approximate=False)
  return layers.norm(c, 'norm')(h_BPD).astype(jnp.dtype(c.dtype))


class MlmHead(nn.Module):
  """Dense + GELU + LayerNorm, then the decoder tied to the token embedding, plus a bias."""
  cfg: Any

  @nn.compact
  def __call__(self, h_BPD, embeddings: encoder.Embeddings):
    c = self.cfg
    h_BPD = head_transform(c, h_BPD)
    logits_BPV = embeddings.attend(h_BPD)
    bias_V = self.param('bias', layers.zeros(('vocab',)), (c.vocab_size,))
    return logits_BPV.astype(jnp.float32) + bias_V


class BertForMaskedLM(nn.Module):
  """encode() gives hidden states; __call__ also gives MLM logits at `masked_positions`."""
  cfg: Any

  @nn.compact
  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, masked_positions_BP=None,
               token_type_ids_BL=None, deterministic: bool = True, prefix_len_B=None):
    """Returns (hidden_BLD, logits): logits are (B, P, V) at masked_positions_BP, or (B, L, V).
    prefix_len_B: per-row prefix length under model.attention_pattern=prefix."""
    c = self.cfg
    emb = encoder.Embeddings(c, deterministic, name='embeddings')
    x_BLD = emb(input_ids_BL, positions_BL, token_type_ids_BL)
    x_BLD = nn.with_logical_constraint(x_BLD, ('batch', 'length', 'act_embed'))
    hidden_BLD = encoder.Encoder(c, deterministic, name='encoder')(
        x_BLD, segment_ids_BL, positions_BL, prefix_len_B)
    gather = lambda h_BLD: h_BLD if masked_positions_BP is None else jnp.take_along_axis(  # noqa: E731
        h_BLD, masked_positions_BP[..., None], axis=1)  # the head runs only where it predicts
    head_in = gather(hidden_BLD)
    if c.mlm_decoder_layers:  # pre-training only (DrBERT/BPDec); the encoder output is returned
      decoded = gather(mlm_decoder.MlmDecoder(c, deterministic, name='mlm_decoder')(
          hidden_BLD, segment_ids_BL, positions_BL, masked_positions_BP, prefix_len_B))
      if not deterministic and c.mlm_decoder_encoder_mix > 0:
        decoded = mlm_decoder.mix_encoder_output(self.make_rng('dropout'), head_in, decoded,
                                                 c.mlm_decoder_encoder_mix)
      head_in = decoded
    logits = MlmHead(c, name='mlm_head')(head_in, emb)
    return hidden_BLD, logits



class BertEncoder(nn.Module):
  """The downstream encoder: BERT's embeddings and layer stack under BertForMaskedLM's names
  (+ its tied MLM head, for generative classification)."""
  cfg: Any
  deterministic: bool
  mlm_head: bool = False

  def setup(self):
    self.embeddings = encoder.Embeddings(self.cfg, self.deterministic)
    self.encoder = encoder.Encoder(self.cfg, self.deterministic)
    if self.mlm_head:
      self.head = MlmHead(self.cfg)

  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, token_type_ids_BL=None):
    x_BLD = self.embeddings(input_ids_BL, positions_BL, token_type_ids_BL)
    x_BLD = nn.with_logical_constraint(x_BLD, ('batch', 'length', 'act_embed'))
    return self.encoder(x_BLD, segment_ids_BL, positions_BL)

  def mlm_logits(self, h_BPD):
    return self.head(h_BPD, self.embeddings)

def count_params(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))


def encoder_module(model_cfg, deterministic: bool = True, mlm_head: bool = False,
                   name: str | None = None) -> nn.Module:
  return BertEncoder(model_cfg, deterministic, mlm_head, name=name)


def encoder_params(model_cfg, params: dict, mlm_head: bool = False) -> dict:
  """BertEncoder's parameters out of a pre-training tree: embeddings and the layer stack
  (+ the MLM head). A missing subtree raises KeyError naming its path."""
  del model_cfg
  out = {'embeddings': family.need(params, 'embeddings'), 'encoder': family.need(params, 'encoder')}
  if mlm_head:
    out['head'] = family.need(params, 'mlm_head')
  return out


def pass_flops(model_cfg, seq_len: int) -> dict[str, float]:
  """Forward FLOPs per token: the pre-training pass of the layers (the encoder, and the MLM
  decoder's blocks when there are any), and the MLM head per predicted position (dense
  transform + tied projection onto the vocabulary)."""
  d = model_cfg.hidden_size
  layers_per_pass = model_cfg.num_layers + model_cfg.mlm_decoder_layers
  return {'encoder': encoder.forward_flops_per_token(model_cfg, seq_len) * layers_per_pass
                     / model_cfg.num_layers,
          'mlm_head_per_prediction': 2 * (d * d + d * model_cfg.vocab_size)}


FAMILY = family.ModelFamily(
    module=BertForMaskedLM, encoder=encoder_module, encoder_params=encoder_params,
    has_mlm_head=True, hf_layout='bert', pass_flops=pass_flops,
    validate=mlm_decoder.validate, downstream='BERT encoder', provides=(family.MASKED_LM,),
    hf=family.HfExport(classes=('BertForMaskedLM',), writer='mlm_jax.export.hf_export:export_bert',
                       twin='mlm_jax.export.convert:twin_config'))
