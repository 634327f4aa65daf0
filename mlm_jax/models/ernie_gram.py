"""ERNIE-Gram's pre-training model (Xiao et al. 2021): a BERT encoder run over two streams, with
a coarse n-gram head and a fine token head; fine-tuning and export keep only the BERT encoder.

- Main stream: the compacted input, one [MASK] per masked n-gram (objectives/ngram_masking.py).
- Query stream: one query per masked token, appended after the main stream. Query j of an
  n-gram is the learned vector [M_j] plus the position of its n-gram's [MASK]; it attends to
  the main stream of its segment and to itself only, and the main stream never attends to a
  query, so main-stream states are those of the main stream alone (the paper's Fig. 2).
- Coarse head (W_N): at each masked n-gram's [MASK], a softmax over the token vocabulary and
  the n-gram lexicon <V_F, V_N>; fine head (W_F): BERT's MLM head, at each query.

Readings of ours: the coarse head has its own transform (dense, GELU, norm), and its V_F part
is tied to the token embeddings like the fine head's, with a separate table for V_N.
model.ngram_vocab_size rows of V_N (at least the lexicon's size), model.ngram_max_len
query vectors [M_1..M_N].
"""
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from mlm_jax.config_lib import require
from mlm_jax.models import bert, encoder, family, layers, mlm_decoder


def two_stream_mask(main_segments_BL, query_segments_BQ):
  """(B, 1, L+Q, L+Q): main sees main (same segment); a query sees main of its segment and
  itself; nobody sees a padding key or another query."""
  Q = query_segments_BQ.shape[1]
  main_B1LL = layers.attention_mask(main_segments_BL)
  q_sees_main_B1QL = ((query_segments_BQ[:, :, None] == main_segments_BL[:, None, :])
                      & (main_segments_BL[:, None, :] != 0))[:, None]
  q_sees_q_B1QQ = (jnp.eye(Q, dtype=bool)[None] & (query_segments_BQ[:, :, None] != 0))[:, None]
  top = jnp.concatenate([main_B1LL, jnp.zeros(main_B1LL.shape[:3] + (Q,), bool)], axis=3)
  bottom = jnp.concatenate([q_sees_main_B1QL, q_sees_q_B1QQ], axis=3)
  return jnp.concatenate([top, bottom], axis=2)


class NgramHead(nn.Module):
  """Transform, then scores against the token embeddings and the n-gram table, plus a bias."""
  cfg: Any

  @nn.compact
  def __call__(self, h_BCD, embeddings: encoder.Embeddings):
    c = self.cfg
    h_BCD = bert.head_transform(c, h_BCD)
    table_KD = self.param('ngram_embeddings', nn.with_logical_partitioning(
        nn.initializers.truncated_normal(c.initializer_range), ('vocab', 'embed')),
        (c.ngram_vocab_size, c.hidden_size))
    words_BCV = embeddings.attend(h_BCD).astype(jnp.float32)
    ngrams_BCK = jnp.einsum('bcd,kd->bck', h_BCD, table_KD.astype(h_BCD.dtype)).astype(jnp.float32)
    bias = self.param('bias', layers.zeros(('vocab',)), (c.vocab_size + c.ngram_vocab_size,))
    return jnp.concatenate([words_BCV, ngrams_BCK], axis=-1) + bias


class ErnieGramForPreTraining(nn.Module):
  cfg: Any

  @nn.compact
  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, query_ids_BQ=None,
               query_positions_BQ=None, query_segments_BQ=None, coarse_positions_BC=None,
               deterministic: bool = True):
    """Returns (main hidden (B, L, D), fine logits (B, Q, V), coarse logits (B, C, V + K)).
    Without a query stream (initialisation: state.init_variables), empty slots at 0."""
    c = self.cfg
    B, L = input_ids_BL.shape
    if query_positions_BQ is None:
      if query_ids_BQ is None:
        query_ids_BQ = jnp.zeros((B, 1), jnp.int32)
      query_positions_BQ = query_segments_BQ = jnp.zeros_like(query_ids_BQ)
      coarse_positions_BC = jnp.zeros_like(query_ids_BQ)
    emb = encoder.Embeddings(c, deterministic, name='embeddings')
    queries_MD = self.param('query_embeddings', nn.with_logical_partitioning(
        nn.initializers.truncated_normal(c.initializer_range), (None, 'embed')),
        (c.ngram_max_len, c.hidden_size))
    words_BLD = emb.word_embeddings(input_ids_BL)
    words_BQD = jnp.take(queries_MD, query_ids_BQ, axis=0).astype(words_BLD.dtype)
    positions = jnp.concatenate([positions_BL, query_positions_BQ], axis=1)
    x_BSD = emb(None, positions, None, words_BLD=jnp.concatenate([words_BLD, words_BQD], axis=1))
    x_BSD = nn.with_logical_constraint(x_BSD, ('batch', 'length', 'act_embed'))
    h_BSD = encoder.Encoder(c, deterministic, name='encoder')(
        x_BSD, jnp.concatenate([segment_ids_BL, query_segments_BQ], axis=1), positions,
        mask_B1LL=two_stream_mask(segment_ids_BL, query_segments_BQ))
    hidden_BLD = h_BSD[:, :L]
    fine_BQV = bert.MlmHead(c, name='mlm_head')(h_BSD[:, L:], emb)
    at_mask_BCD = jnp.take_along_axis(hidden_BLD, coarse_positions_BC[..., None], axis=1)
    coarse_BCX = NgramHead(c, name='ngram_head')(at_mask_BCD, emb)
    return hidden_BLD, fine_BQV, coarse_BCX


def validate(model_cfg) -> None:
  m = model_cfg
  require(m.ngram_vocab_size > 0, f'model.ngram_vocab_size={m.ngram_vocab_size} must be positive '
          '(rows of the n-gram lexicon head: at least the lexicon size)')
  require(m.ngram_max_len >= 2, f'model.ngram_max_len={m.ngram_max_len} must be at least 2')
  mlm_decoder.refuse(m)


def pass_flops(model_cfg, seq_len: int) -> dict[str, float]:
  """BERT's passes, plus the coarse head per masked n-gram (transform + V + K scores)."""
  d = model_cfg.hidden_size
  out = bert.pass_flops(model_cfg, seq_len)
  out['ngram_head_per_prediction'] = 2 * (d * d + d * (model_cfg.vocab_size
                                                         + model_cfg.ngram_vocab_size))
  return out


FAMILY = family.ModelFamily(
    module=ErnieGramForPreTraining, encoder=bert.encoder_module,
    encoder_params=bert.encoder_params, has_mlm_head=True, hf_layout=bert.FAMILY.hf_layout,
    pass_flops=pass_flops, validate=validate, downstream='BERT encoder', provides=(family.NGRAM_MLM,),
    hf=bert.FAMILY.hf)
