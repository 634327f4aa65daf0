"""The encoder block composed from config: MLP kind, position scheme, attention pattern,
norm kind and placement, biases. BERT is one configuration of it (BERT_BLOCK)."""
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from mlm_jax.config_lib import require
from mlm_jax.models import attention, layers

MLP_KINDS = tuple(layers.MLP_ACTIVATIONS)
POSITION_SCHEMES = ('learned', 'rotary', 'alibi', 'none')
NORM_KINDS = ('layernorm', 'rmsnorm')
# The block settings of BERT (and of Hugging Face's BertForMaskedLM / ElectraModel).
BERT_BLOCK = {'mlp_kind': 'gelu', 'position_scheme': 'learned',
              'attention_pattern': 'bidirectional', 'global_attention_every': 0,
              'bidirectional_layers': '', 'use_bias': True, 'norm_kind': 'layernorm', 'pre_layer_norm': False,
              'first_attention_norm': True, 'local_rotary_base': 0.0, 'head_transform_bias': True}


def _one_of(m, key: str, choices: tuple[str, ...]) -> None:
  require(m[key] in choices, f'model.{key}={m[key]!r} must be one of {"|".join(choices)}')


def validate_block(m) -> None:
  """Checks the block keys of a model config; ConfigError names the key and value at fault."""
  _one_of(m, 'mlp_kind', MLP_KINDS)
  _one_of(m, 'position_scheme', POSITION_SCHEMES)
  _one_of(m, 'attention_pattern', attention.PATTERNS)
  _one_of(m, 'norm_kind', NORM_KINDS)
  require(isinstance(m.use_bias, bool), f'model.use_bias={m.use_bias!r} must be True or False')
  if m.position_scheme == 'rotary':
    head_dim = m.hidden_size // m.num_heads
    require(head_dim % 2 == 0, f'model.position_scheme=rotary needs an even head dimension; '
             f'model.hidden_size={m.hidden_size} / model.num_heads={m.num_heads} = {head_dim}')
    require(m.rotary_base > 0, f'model.rotary_base={m.rotary_base} must be positive')
    require(m.local_rotary_base >= 0,
            f'model.local_rotary_base={m.local_rotary_base} must be >= 0 (0: model.rotary_base)')
  if m.attention_pattern == 'sliding_window':
    require(m.attention_window > 0 and m.attention_window % 2 == 0,
             f'model.attention_window={m.attention_window} must be positive and even')
  require(m.global_attention_every >= 0,
           f'model.global_attention_every={m.global_attention_every} must be >= 0')
  require(m.global_attention_every == 0 or m.attention_pattern != 'bidirectional',
           f'model.global_attention_every={m.global_attention_every} needs a local '
           "model.attention_pattern (every layer is already global under 'bidirectional')")
  if m.get('sltrain_rank'):
    require(0 < m.sltrain_rank < m.hidden_size,
            f'model.sltrain_rank={m.sltrain_rank} must be in (0, model.hidden_size={m.hidden_size})')
    require(0 < m.sltrain_density < 1,
            f'model.sltrain_density={m.sltrain_density} must be in (0, 1)')
    require(not m.scan_layers, 'model.sltrain_rank needs model.scan_layers=false: each layer '
            'draws its own sparse support, which one scanned trace cannot')
  if m.bidirectional_layers:
    require(m.attention_pattern != 'bidirectional',
            f'model.bidirectional_layers={m.bidirectional_layers!r} needs a causal, prefix or '
            "local model.attention_pattern (every layer is already bidirectional)")
    unmasked_layer_indices(m)  # raises on a bad list


def unmasked_layer_indices(m) -> list[int]:
  """model.bidirectional_layers ('-2,-1': the top two; '0,3': layers 0 and 3) as indices."""
  out = []
  for part in str(m.bidirectional_layers).split(','):
    try:
      i = int(part)
    except ValueError:
      i = None
    require(i is not None and -m.num_layers <= i < m.num_layers,
            f'model.bidirectional_layers={m.bidirectional_layers!r}: {part!r} is not a layer index '
            f'in [-{m.num_layers}, {m.num_layers})')
    out.append(i % m.num_layers)
  return sorted(set(out))


def non_bert_settings(m) -> list[str]:
  """'model.key=value' for each block setting BERT does not have (export refuses these)."""
  return [f'model.{k}={m[k]!r}' for k, v in BERT_BLOCK.items() if m[k] != v]


def global_layers(m) -> np.ndarray:
  """(num_layers,) bool: the layers that attend bidirectionally over the whole segment; with
  global_attention_every = k > 0, layers 0, k, 2k, ... (ModernBERT: k = 3); and the layers of
  bidirectional_layers, whose causal mask is removed ("Looking Right is Sometimes Right")."""
  every = m.global_attention_every
  out = (np.arange(m.num_layers) % every == 0) if every else np.zeros(m.num_layers, bool)
  if m.get('bidirectional_layers'):
    out[unmasked_layer_indices(m)] = True
  return out


def low_rank_spec(m) -> tuple:
  """(rank, density, alpha) of SLTrain's matrices (models/low_rank.py), () for dense ones."""
  if not m.get('sltrain_rank'):
    return ()
  return (m.sltrain_rank, m.sltrain_density, m.sltrain_alpha)


class TransformerLayer(nn.Module):
  """One block; post-LN (BERT) or pre-LN. Signature fits nn.scan: (carry, ...) -> (carry, None).

  FLAGS: this layer's {'is_global', 'is_first'}: Python bools in an unrolled stack, scanned
  arrays under nn.scan. GLOBAL_MASK_B1LL (given under nn.scan only): the mask a global layer
  uses in place of MASK_B1LL; an unrolled stack passes each layer its own mask.
  """
  cfg: Any  # model ConfigDict
  deterministic: bool

  @nn.compact
  def __call__(self, x_BLD, mask_B1LL, positions_BL, global_mask_B1LL=None, flags=None,
               segment_ids_BL=None):
    c = self.cfg
    dtype = jnp.dtype(c.dtype)
    flags = flags or {'is_global': False, 'is_first': False}
    is_global, is_first = flags['is_global'], flags['is_first']
    if global_mask_B1LL is not None:
      mask_B1LL = jnp.where(is_global, global_mask_B1LL, mask_B1LL)
    rotary_base = None
    if c.position_scheme == 'rotary':  # ModernBERT: a smaller base in its local layers
      rotary_base = c.rotary_base
      if c.local_rotary_base and c.attention_pattern == 'sliding_window':
        rotary_base = jnp.where(is_global, c.rotary_base, c.local_rotary_base)
    attn = attention.Attention(
        c.num_heads, c.hidden_size // c.num_heads, c.dropout_rate, c.attention_dropout_rate,
        c.initializer_range, dtype, c.attention_impl, self.deterministic, c.use_bias,
        rotary_base=rotary_base, alibi=c.position_scheme == 'alibi', pattern=c.attention_pattern,
        window=c.attention_window, low_rank=low_rank_spec(c), name='attention')
    mlp = layers.Mlp(c.mlp_dim, c.dropout_rate, c.initializer_range, dtype, self.deterministic,
                     c.mlp_kind, c.use_bias, low_rank_spec(c), name='mlp')
    mlp_norm = layers.norm(c, 'mlp_norm')
    if c.pre_layer_norm:
      attn_in_BLD = layers.norm(c, 'attention_norm')(x_BLD)
      if not c.first_attention_norm:  # ModernBERT's first layer: an Identity (the parameter
        # exists in every layer, so unrolled, scanned and remat stacks have one tree)
        attn_in_BLD = jnp.where(is_first, x_BLD, attn_in_BLD)
      x_BLD = x_BLD + attn(attn_in_BLD.astype(dtype), mask_B1LL, positions_BL, segment_ids_BL,
                           is_global)
      x_BLD = x_BLD + mlp(mlp_norm(x_BLD).astype(dtype))
    else:
      attn_norm = layers.norm(c, 'attention_norm')
      x_BLD = attn_norm(x_BLD + attn(x_BLD, mask_B1LL, positions_BL, segment_ids_BL,
                                     is_global)).astype(dtype)
      x_BLD = mlp_norm(x_BLD + mlp(x_BLD)).astype(dtype)
    x_BLD = nn.with_logical_constraint(x_BLD, ('batch', 'length', 'act_embed'))
    return x_BLD, None
