"""MiniLM deep self-attention distillation (Wang et al., NeurIPS 2020, sec. 3).

A frozen teacher (objective.teacher_workdir or objective.teacher_hf_dir: mlm_jax/teacher.py,
teacher_weights.py)
runs inside the student's step; the student learns from the teacher's last self-attention layer
only, so its depth and width are free:

- attention transfer (eq. 6): L_AT = 1/(A_h |x|) sum_a sum_t KL(A^T_{a,t} || A^S_{a,t}), with
  A = softmax(Q K^T / sqrt(d_k)) per head a and query token t;
- value-relation transfer (eqs. 7-8): L_VR likewise with VR = softmax(V V^T / sqrt(d_k)), the
  scaled dot products between the values of one head (each model's own d_k);
- loss = L_AT + L_VR (eq. 9), nothing else: no MLM term, no hard labels.

The teacher and student must have the same number of attention heads (A_h), as in the paper.
Teacher assistant (sec. 3.3): for a student of at most half the teacher's depth and width, first
distil the teacher into an assistant with the teacher's depth and the student's width, then the
assistant into the student: two runs, the second with objective.teacher_workdir = the first
(README, "Distillation").

Our readings, where the paper is silent: packed rows attend within their own document (keys of
other documents and padding get probability 0 in both distributions, and padded query rows do
not count in |x|); Q and K are read after rotary embeddings when a model has them (what its
attention used); minilm_teacher_layer / minilm_student_layer pick other layers than the last
(MiniLMv2's upper-middle teacher layer), -1 = the paper's last layer. Models with local or
causal layers work when the two chosen layers attend over the same keys (their masks are
applied); ALiBi is refused (its biases are not in Q and K).
"""
import jax
import jax.numpy as jnp

from mlm_jax import models, teacher as teacher_lib
from mlm_jax.config_lib import require
from mlm_jax.models import attention, blocks
from mlm_jax.objectives.objective import MASKED_LM, LossOutput, Objective

NEG = -1e9  # masked logits: probability exactly 0 after softmax, finite log-probabilities


def layer_qkv(intermediates: dict, num_layers: int, layer: int):
  """(q, k, v), each (B, L, H, K), of LAYER (negative: from the top) out of an encoder's sown
  'intermediates' (an unrolled stack: one entry per layer; nn.scan: stacked on axis 0)."""
  i = layer % num_layers
  stack = intermediates['encoder']
  if 'layers' in stack:  # scanned
    q, k, v = stack['layers']['attention']['qkv'][0]
    return q[i], k[i], v[i]
  return stack[f'layers_{i}']['attention']['qkv'][0]


def layer_attention(cfg, layer: int) -> tuple[str, int]:
  """(pattern, window) LAYER attends with: 'bidirectional' for a global layer, else the
  configured pattern (window 0 unless sliding_window)."""
  if blocks.global_layers(cfg)[layer % cfg.num_layers] or cfg.attention_pattern == 'bidirectional':
    return 'bidirectional', 0
  window = cfg.attention_window if cfg.attention_pattern == 'sliding_window' else 0
  return cfg.attention_pattern, window


def relation_logits(a_BLHK, b_BLHK, mask_B1LL):
  """Scaled dot products a . b / sqrt(d_k) per head (B, H, L, L), NEG outside the mask."""
  logits = jnp.einsum('bqhk,bshk->bhqs', a_BLHK, b_BLHK).astype(jnp.float32)
  return jnp.where(mask_B1LL, logits * a_BLHK.shape[-1] ** -0.5, NEG)


def relation_kl(teacher_logits, student_logits, mask_B1LL, query_BL):
  """(sum over heads and real query tokens of KL(teacher row || student row), their count)."""
  t_logp = jax.nn.log_softmax(teacher_logits, axis=-1)
  s_logp = jax.nn.log_softmax(student_logits, axis=-1)
  kl_BHQ = jnp.sum(jnp.where(mask_B1LL, jnp.exp(t_logp) * (t_logp - s_logp), 0.0), axis=-1)
  q = query_BL[:, None, :].astype(jnp.float32)
  heads = teacher_logits.shape[1]
  return jnp.sum(kl_BHQ * q), jnp.sum(q) * heads


def make_loss(model, objective_cfg, tokens, word_start_V=None):
  """loss_fn(params, batch, rng, train, frozen): FROZEN holds the teacher's encoder
  parameters (the train loop places them: Objective.load_frozen)."""
  del tokens, word_start_V
  o = objective_cfg
  student_cfg = model.cfg
  s_family = models.family(student_cfg)
  t_cfg = teacher_lib.load_config(o)
  t_encoder = models.family(t_cfg).encoder(t_cfg, True)
  t_layer = o.minilm_teacher_layer

  pattern, window = layer_attention(t_cfg, t_layer)  # the student's layer matches (validated)

  def loss_fn(params, batch, rng, train: bool = True, *, frozen):
    ids, seg, pos = batch['input_ids'], batch['segment_ids'], batch['positions']
    mask_B1LL = attention.pattern_mask(pattern, seg, pos, window)
    query_BL = seg != 0
    s_encoder = s_family.encoder(student_cfg, not train)
    _, s_vars = s_encoder.apply({'params': s_family.encoder_params(student_cfg, params)},
                                ids, seg, pos, rngs={'dropout': rng}, mutable=['intermediates'])
    _, t_vars = t_encoder.apply({'params': frozen}, ids, seg, pos, mutable=['intermediates'])
    sq, sk, sv = layer_qkv(s_vars['intermediates'], student_cfg.num_layers,
                           o.minilm_student_layer)
    tq, tk, tv = jax.tree.map(jax.lax.stop_gradient, layer_qkv(
        t_vars['intermediates'], t_cfg.num_layers, t_layer))
    at_sum, n = relation_kl(relation_logits(tq, tk, mask_B1LL),
                            relation_logits(sq, sk, mask_B1LL), mask_B1LL, query_BL)
    vr_sum, _ = relation_kl(relation_logits(tv, tv, mask_B1LL),
                            relation_logits(sv, sv, mask_B1LL), mask_B1LL, query_BL)
    n = jnp.maximum(n, 1.0)
    loss = (at_sum + vr_sum) / n
    return LossOutput(loss, {'attention_kl': (at_sum, n), 'value_relation_kl': (vr_sum, n)})

  return loss_fn


def validate(objective_cfg) -> None:
  o = objective_cfg
  teacher_lib.source(o)  # exactly one teacher, and it exists
  t_cfg = teacher_lib.load_config(o)
  for key in ('minilm_teacher_layer', 'minilm_student_layer'):
    require(isinstance(o[key], int), f'objective.{key}={o[key]!r} must be a layer index')
  require(-t_cfg.num_layers <= o.minilm_teacher_layer < t_cfg.num_layers,
          f'objective.minilm_teacher_layer={o.minilm_teacher_layer} is not a layer of the '
          f'{t_cfg.num_layers}-layer teacher')
  require(t_cfg.position_scheme != 'alibi', "objective.name='minilm': the teacher uses ALiBi, "
          'whose biases are not in Q and K (its attention distributions would be wrong)')


def validate_model(model_cfg, objective_cfg) -> None:
  """Student against teacher: heads equal (the paper's A_h), layers in range, the two layers
  attending over the same keys (so both distributions have one support)."""
  o = objective_cfg
  t_cfg = teacher_lib.load_config(o)
  require(model_cfg.num_heads == t_cfg.num_heads,
          f"objective.name='minilm': model.num_heads={model_cfg.num_heads}, but MiniLM transfers "
          f'attention head by head and the teacher has {t_cfg.num_heads} heads')
  require(-model_cfg.num_layers <= o.minilm_student_layer < model_cfg.num_layers,
          f"objective.name='minilm': objective.minilm_student_layer={o.minilm_student_layer} is "
          f'not a layer of the {model_cfg.num_layers}-layer student')
  require(model_cfg.position_scheme != 'alibi',
          "objective.name='minilm': the student uses ALiBi, whose biases are not in Q and K")
  theirs = layer_attention(t_cfg, o.minilm_teacher_layer)
  ours = layer_attention(model_cfg, o.minilm_student_layer)
  require(theirs == ours, f"objective.name='minilm': the student's layer "
          f'{o.minilm_student_layer} attends {ours}, the teacher\'s layer '
          f'{o.minilm_teacher_layer} {theirs}: pick layers that attend alike')


def _forward_flops_to_layer(cfg, layer: int, seq_len: int) -> float:
  """Forward FLOPs per token of what the loss reads from one model: every layer below LAYER,
  LAYER's Q, K and V projections, and its two relation matrices (Q K^T, V V^T). Nothing above
  (LAYER's attention output and MLP, later layers, heads) feeds the loss, and XLA drops it."""
  d, n = cfg.hidden_size, cfg.num_layers
  below = layer % n
  mlp_matrices = 2 if cfg.mlp_kind == 'gelu' else 3
  per_layer = 4 * d * d + mlp_matrices * d * cfg.mlp_dim
  return 2 * (below * per_layer + 3 * d * d) + 4 * below * d * seq_len + 4 * d * seq_len


def flops_per_token(model_cfg, objective_cfg, seq_len: int, pass_flops: dict) -> float:
  """The student's share forward and backward (3x), the teacher's forward (1x)."""
  del pass_flops  # the family's full passes overcount: only the layers up to the chosen one run
  t_cfg = teacher_lib.load_config(objective_cfg)
  return (3 * _forward_flops_to_layer(model_cfg, objective_cfg.minilm_student_layer, seq_len)
          + _forward_flops_to_layer(t_cfg, objective_cfg.minilm_teacher_layer, seq_len))


OBJECTIVE = Objective(
    make_loss=make_loss, needs=MASKED_LM, headline=lambda o: 'attention_kl',
    flops_per_token=flops_per_token, validate=validate, uses_mask_token=False,
    load_frozen='mlm_jax.teacher_weights:load', validate_model=validate_model,
    check_vocab=teacher_lib.check_vocab)
