"""Small-model help for pre-training, SALT (Rawat et al. 2024, "A Little Help Goes a Long Way:
Efficient LLM Training by Leveraging Small LMs"), for masked LMs: a frozen SMALLER model's soft
labels supervise the larger model early in training, then the plain objective takes over; in
the data-selection variant (SALT_DS) the small model also picks the "challenging yet learnable"
sequences the early phase trains on.

- Stage 1 (the first objective.kd_steps training batches): at the masked positions,
  loss = (1 - w) x cross-entropy with the true token + w x tau^2 KL(teacher_tau || student_tau)
  over the whole vocabulary, w = objective.kd_weight, tau = objective.kd_temperature.
  objective.kd_transition: `step` switches to stage 2 at once (the paper's main recipe);
  `linear` lowers w linearly to 0 over stage 1 (one of the paper's transition variants).
- Stage 2: the masked-LM loss alone; the teacher's forward pass is skipped (lax.cond).
- SALT_DS (objective.kd_select_fraction < 1): during stage 1 only the rows the teacher scores
  hardest-but-learnable are trained: a row's score is the median of the teacher's per-token
  loss over its masked tokens whose true token is in the teacher's top objective.kd_select_topk
  (the learnable ones); the top kd_select_fraction of each batch's rows by score are kept.

Our readings (the paper's method section could not be read here; its abstract, reviews and
press summaries were): the KD term's form (forward KL with tau^2, Hinton et al.), w = 0.5 and
tau = 1 as defaults; the stage length in batches (optimizer steps x train.micro_batches); the
selection is per batch online (the paper scores the corpus once offline and trains stage 1 on
the selected sequences) so the budget per step is unchanged; the teacher is a masked LM of the
same vocabulary (an mlm_jax workdir or a local Hugging Face MLM directory with its head).
"""
import jax
import jax.numpy as jnp
import optax

from mlm_jax import models, teacher as teacher_lib
from mlm_jax.config_lib import require
from mlm_jax.objectives import masking, mlm
from mlm_jax.objectives.objective import MASKED_LM, LossOutput, Objective

TRANSITIONS = ('step', 'linear')


def kd_weight_at(batch_index, objective_cfg):
  """w for the BATCH_INDEX-th training batch (0-based): stage 1's weight, 0 after it."""
  o = objective_cfg
  in_stage1 = batch_index < o.kd_steps
  if o.kd_transition == 'linear':
    w = o.kd_weight * (1.0 - batch_index / o.kd_steps)
  else:
    w = o.kd_weight
  return jnp.where(in_stage1, w, 0.0).astype(jnp.float32)


def kd_per_position(student_BPV, teacher_BPV, temperature: float):
  """tau^2 KL(softmax(teacher/tau) || softmax(student/tau)) at each position."""
  t_logp = jax.nn.log_softmax(teacher_BPV.astype(jnp.float32) / temperature)
  s_logp = jax.nn.log_softmax(student_BPV.astype(jnp.float32) / temperature)
  return temperature ** 2 * jnp.sum(jnp.exp(t_logp) * (t_logp - s_logp), axis=-1)


def row_scores(teacher_BPV, targets_BP, weights_BP, topk: int):
  """SALT_DS: the median teacher loss over each row's learnable masked tokens (true token in
  the teacher's top-k); -inf for a row with none."""
  xent_BP = optax.softmax_cross_entropy_with_integer_labels(
      teacher_BPV.astype(jnp.float32), targets_BP)
  target_logit = jnp.take_along_axis(teacher_BPV, targets_BP[..., None], axis=-1)[..., 0]
  rank_BP = jnp.sum(teacher_BPV > target_logit[..., None], axis=-1)  # 0: the top prediction
  learnable_BP = (weights_BP > 0) & (rank_BP < topk)
  median_B = jnp.nanmedian(jnp.where(learnable_BP, xent_BP, jnp.nan), axis=-1)
  return jnp.where(jnp.any(learnable_BP, axis=-1), median_B, -jnp.inf)


def select_rows(scores_B, fraction: float):
  """1.0 for the ceil(FRACTION x B) highest-scoring rows, 0.0 for the rest (ties: lower index)."""
  keep = max(1, int(-(-fraction * scores_B.shape[0] // 1)))
  order = jnp.argsort(-scores_B, stable=True)
  return jnp.zeros(scores_B.shape, jnp.float32).at[order[:keep]].set(1.0)


def init_state(objective_cfg) -> dict:
  del objective_cfg
  return {'batches': jnp.zeros((), jnp.int32)}


def make_loss(model, objective_cfg, tokens, word_start_V=None):
  """loss_fn(params, batch, rng, train, objective_state, frozen): FROZEN is the teacher MLM."""
  o = objective_cfg
  spec = mlm.masking_spec(o)
  t_cfg = teacher_lib.load_config(o)
  teacher = models.build(t_cfg)

  def loss_fn(params, batch, rng, train: bool = True, objective_state=None, *, frozen):
    mask_rng, dropout_rng = jax.random.split(rng)
    m = masking.mask_batch(mask_rng, batch['input_ids'], batch['segment_ids'], tokens, spec,
                           word_start_V, batch.get('unit_tags'))
    _, logits_BPV = model.apply({'params': params}, m['input_ids'], batch['segment_ids'],
                                batch['positions'], m['masked_positions'],
                                deterministic=not train, rngs={'dropout': dropout_rng})
    index = (init_state(o) if objective_state is None else objective_state)['batches']
    w = kd_weight_at(index, o)

    def teacher_logits():
      _, t = teacher.apply({'params': frozen}, m['input_ids'], batch['segment_ids'],
                           batch['positions'], m['masked_positions'], deterministic=True)
      return jax.lax.stop_gradient(t.astype(jnp.float32))

    stage1 = index < o.kd_steps
    t_BPV = jax.lax.cond(stage1, teacher_logits,
                         lambda: jnp.zeros(logits_BPV.shape, jnp.float32))
    targets, weights = m['masked_ids'], m['masked_weights']
    if o.kd_select_fraction < 1.0:  # SALT_DS: stage 1 trains the selected rows only
      rows_B = select_rows(row_scores(t_BPV, targets, weights, o.kd_select_topk),
                           o.kd_select_fraction)
      weights = jnp.where(stage1, weights * rows_B[:, None], weights)
    xent_BP = optax.softmax_cross_entropy_with_integer_labels(logits_BPV, targets)
    kd_BP = kd_per_position(logits_BPV, t_BPV, o.kd_temperature)
    total = jnp.maximum(weights.sum(), 1.0)
    ce = (xent_BP * weights).sum() / total
    kd = (kd_BP * weights).sum() / total
    loss = (1.0 - w) * ce + w * kd
    _, metrics = mlm.mlm_metrics(logits_BPV, targets, weights)
    # kd_loss reads 0 after stage 1 (the term is off), so every interval has a value.
    metrics = dict(metrics, kd_loss=(jnp.where(stage1, kd, 0.0), jnp.ones(())),
                   kd_weight=(w, jnp.ones(())),
                   kd_rows=(jnp.sum(jnp.any(weights > 0, axis=-1)).astype(jnp.float32),
                            jnp.asarray(weights.shape[0], jnp.float32)))
    counts = None if train else mlm.label_counts(targets, weights, logits_BPV.shape[-1])
    new_state = {'batches': index + 1} if train else None
    return LossOutput(loss, metrics, counts, new_state)

  return loss_fn


def validate(objective_cfg) -> None:
  o = objective_cfg
  teacher_lib.source(o)
  require(o.kd_steps > 0, f'objective.kd_steps={o.kd_steps} must be positive: the batches '
          'trained with the small model\'s soft labels (the paper: the first ~17% of training)')
  require(0 <= o.kd_weight <= 1, f'objective.kd_weight={o.kd_weight} must be in [0, 1]')
  require(o.kd_temperature > 0, f'objective.kd_temperature={o.kd_temperature} must be positive')
  require(o.kd_transition in TRANSITIONS,
          f'objective.kd_transition={o.kd_transition!r} must be one of {"|".join(TRANSITIONS)}')
  require(0 < o.kd_select_fraction <= 1,
          f'objective.kd_select_fraction={o.kd_select_fraction} must be in (0, 1]')
  require(o.kd_select_topk >= 1, f'objective.kd_select_topk={o.kd_select_topk} must be >= 1')


def validate_model(model_cfg, objective_cfg) -> None:
  t_cfg = teacher_lib.load_config(objective_cfg)
  require(MASKED_LM in models.family(t_cfg).provides,
          f"objective.name='salt': the teacher (model.name={t_cfg.name!r}) is not a masked LM")
  require(t_cfg.vocab_size == model_cfg.vocab_size,
          f"objective.name='salt': the teacher's vocabulary size {t_cfg.vocab_size} is not "
          f'model.vocab_size={model_cfg.vocab_size}')


def flops_per_token(model_cfg, objective_cfg, seq_len: int, passes: dict) -> float:
  """MLM's trained pass plus the teacher's forward pass (counted for every step: an upper
  bound, stage 2 skips it)."""
  t_cfg = teacher_lib.load_config(objective_cfg)
  t_passes = models.family(t_cfg).pass_flops(t_cfg, seq_len)
  head = t_passes['mlm_head_per_prediction'] * masking.slots(objective_cfg, seq_len) / seq_len
  return mlm.flops_per_token(model_cfg, objective_cfg, seq_len, passes) + t_passes['encoder'] + head


OBJECTIVE = Objective(
    make_loss=make_loss, needs=MASKED_LM, headline=lambda o: 'mlm_accuracy',
    flops_per_token=flops_per_token, perplexity_of='mlm_loss', validate=validate,
    init_state=init_state, load_frozen='mlm_jax.teacher_weights:load_mlm',
    validate_model=validate_model, check_vocab=teacher_lib.check_vocab)
