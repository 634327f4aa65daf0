"""Embeddings and the transformer stack (unrolled or nn.scan, optional remat)."""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from mlm_jax.models import attention, blocks, layers

REMAT_POLICIES = {
    'full': jax.checkpoint_policies.nothing_saveable,
    'dots': jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


class Embeddings(nn.Module):
  """Token + learned position (+ token type) embeddings, norm, dropout. Other position
  schemes act inside attention, and there is no position table."""
  cfg: Any
  deterministic: bool

  def setup(self):
    c = self.cfg
    embed = lambda n, name: nn.Embed(  # noqa: E731
        n, c.hidden_size, name=name, embedding_init=nn.with_logical_partitioning(
            nn.initializers.truncated_normal(c.initializer_range), ('vocab', 'embed')))
    self.word_embeddings = embed(c.vocab_size, 'word_embeddings')
    if c.position_scheme == 'learned':
      self.position_embeddings = embed(c.max_positions, 'position_embeddings')
    if c.type_vocab_size:
      self.token_type_embeddings = embed(c.type_vocab_size, 'token_type_embeddings')
    self.norm = layers.norm(c, 'norm')
    self.dropout = nn.Dropout(c.dropout_rate)

  def __call__(self, input_ids_BL, positions_BL, token_type_ids_BL=None, words_BLD=None):
    """words_BLD: vectors to use in place of the token lookup (ERNIE-Gram's query stream)."""
    x_BLD = self.word_embeddings(input_ids_BL) if words_BLD is None else words_BLD
    if self.cfg.position_scheme == 'learned':
      x_BLD = x_BLD + self.position_embeddings(positions_BL)
    if self.cfg.type_vocab_size:
      if token_type_ids_BL is None:
        token_type_ids_BL = jnp.zeros(x_BLD.shape[:2], jnp.int32)
      x_BLD = x_BLD + self.token_type_embeddings(token_type_ids_BL)
    x_BLD = self.norm(x_BLD).astype(jnp.dtype(self.cfg.dtype))
    return self.dropout(x_BLD, self.deterministic)

  def attend(self, h_BPD):
    """Tied decoder: scores against every token embedding (layers.tied_scores)."""
    return layers.tied_scores(h_BPD, self.word_embeddings.embedding)


class Encoder(nn.Module):
  """The layer stack. Parameters of a scanned stack carry a leading 'layers' axis."""
  cfg: Any
  deterministic: bool

  @nn.compact
  def __call__(self, x_BLD, segment_ids_BL, positions_BL, prefix_len_B=None, mask_B1LL=None):
    """prefix_len_B: per-row prefix length for attention_pattern=prefix (None: no prefix
    limit, the whole segment is bidirectional). mask_B1LL: an explicit mask for every layer
    in place of the configured pattern (ERNIE-Gram's two streams)."""
    c = self.cfg
    is_global_N = blocks.global_layers(c)
    # Splash builds its masks from segment ids; an explicit mask (ERNIE-Gram) needs XLA's path.
    splash_segments_BL = segment_ids_BL if mask_B1LL is None else None
    if mask_B1LL is not None:
      is_global_N = np.zeros_like(is_global_N)
    else:
      mask_B1LL = attention.pattern_mask(c.attention_pattern, segment_ids_BL, positions_BL,
                                         c.attention_window, prefix_len_B)
    global_mask_B1LL = layers.attention_mask(segment_ids_BL) if is_global_N.any() else None
    block = blocks.TransformerLayer
    if c.remat_policy != 'none':
      block = nn.remat(block, policy=REMAT_POLICIES[c.remat_policy], prevent_cse=not c.scan_layers)
    is_first_N = np.arange(c.num_layers) == 0
    if c.scan_layers:  # both masks to every layer; the scanned flags pick one
      flags = {'is_global': jnp.asarray(is_global_N), 'is_first': jnp.asarray(is_first_N)}
      stack = nn.scan(block, variable_axes={'params': 0, 'intermediates': 0},
                      split_rngs={'params': True, 'dropout': True},
                      in_axes=(nn.broadcast, nn.broadcast, nn.broadcast, 0, nn.broadcast),
                      length=c.num_layers,
                      metadata_params={nn.PARTITION_NAME: 'layers'})
      x_BLD, _ = stack(c, self.deterministic, name='layers')(
          x_BLD, mask_B1LL, positions_BL,
          mask_B1LL if global_mask_B1LL is None else global_mask_B1LL, flags, splash_segments_BL)
    else:
      for i in range(c.num_layers):
        layer_mask_B1LL = global_mask_B1LL if is_global_N[i] else mask_B1LL
        flags = {'is_global': bool(is_global_N[i]), 'is_first': bool(is_first_N[i])}
        x_BLD, _ = block(c, self.deterministic, name=f'layers_{i}')(
            x_BLD, layer_mask_B1LL, positions_BL, None, flags, splash_segments_BL)
    if c.pre_layer_norm:
      x_BLD = layers.norm(c, 'final_norm')(x_BLD).astype(x_BLD.dtype)
    return x_BLD


def forward_flops_per_token(cfg, seq_len: int, width_in: int | None = None) -> float:
  """Forward FLOPs per token of the layer stack (2 per multiply-add): the projections and MLP
  of every layer, attention scores and values over SEQ_LEN keys, plus an input projection
  from WIDTH_IN when it differs from the stack's width (ELECTRA's embeddings_project)."""
  d, f, n = cfg.hidden_size, cfg.mlp_dim, cfg.num_layers
  mlp_matrices = 2 if cfg.mlp_kind == 'gelu' else 3  # gated MLPs (geglu, swiglu): two inputs
  per_layer = 4 * d * d + mlp_matrices * d * f
  project = width_in * d if width_in and width_in != d else 0
  return 2 * (n * per_layer + project) + 4 * n * d * seq_len
