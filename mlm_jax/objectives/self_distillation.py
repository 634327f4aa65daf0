"""Self-distillation for further pre-training (Lee et al., ICLR 2023; the authors' code,
seanie12/self-distillation, trainer.py SelfPreTrainer).

The recipe, three runs: (1) further pre-train the initial model on the target corpus (plain MLM,
--config.init_from.workdir=INITIAL) -> the teacher; (2) start again from the INITIAL model
(init_from.workdir=INITIAL) with objective.name=self_distill and objective.teacher_workdir = the
teacher: the masked-LM loss plus objective.self_distill_weight x the squared distance between
the student's and the teacher's final hidden state at the sequence's first token, both read on
the unmasked input (teacher frozen, no gradient); (3) fine-tune the student.

As the authors' code: loss = MLM + (1/B) sum_b ||h_S(x_b)[CLS] - sg(h_T(x_b)[CLS])||^2 with
weight 1 (their ViT: MAE + the [CLS] feature after the final norm); the student's feature is a
second, unmasked forward pass.

Our readings: MLM is the text "masked auto-encoding" (the paper's text experiments further
pre-train RoBERTa with MLM); in a packed row every document's first token ([CLS]) is a feature
and the mean is over documents; the teacher must have the student's width (the same model
further pre-trained).
"""
import jax
import jax.numpy as jnp

from mlm_jax import models, teacher as teacher_lib
from mlm_jax.config_lib import require
from mlm_jax.objectives import mlm
from mlm_jax.objectives.objective import MASKED_LM, LossOutput, Objective


def first_token_distance(student_BLD, teacher_BLD, segment_ids_BL, positions_BL):
  """(sum over documents of ||h_S - h_T||^2 at each document's first token, documents)."""
  first_BL = (positions_BL == 0) & (segment_ids_BL != 0)
  sq_BL = jnp.sum(jnp.square(student_BLD.astype(jnp.float32)
                             - teacher_BLD.astype(jnp.float32)), axis=-1)
  return jnp.sum(jnp.where(first_BL, sq_BL, 0.0)), jnp.sum(first_BL).astype(jnp.float32)


def make_loss(model, objective_cfg, tokens, word_start_V=None):
  """loss_fn(params, batch, rng, train, frozen): FROZEN holds the teacher's encoder."""
  o = objective_cfg
  mlm_loss = mlm.make_loss(model, o, tokens, word_start_V)
  student_cfg = model.cfg
  s_family = models.family(student_cfg)
  t_cfg = teacher_lib.load_config(o)
  t_encoder = models.family(t_cfg).encoder(t_cfg, True)

  def loss_fn(params, batch, rng, train: bool = True, *, frozen):
    mlm_rng, dropout_rng = jax.random.split(rng)
    out = mlm_loss(params, batch, mlm_rng, train)
    ids, seg, pos = batch['input_ids'], batch['segment_ids'], batch['positions']
    s_encoder = s_family.encoder(student_cfg, not train)
    h_s = s_encoder.apply({'params': s_family.encoder_params(student_cfg, params)}, ids, seg, pos,
                          rngs={'dropout': dropout_rng})
    h_t = jax.lax.stop_gradient(t_encoder.apply({'params': frozen}, ids, seg, pos))
    total, docs = first_token_distance(h_s, h_t, seg, pos)
    distill = total / jnp.maximum(docs, 1.0)
    metrics = dict(out.metrics, distill_sq_distance=(total, docs))
    return LossOutput(out.loss + o.self_distill_weight * distill, metrics, out.label_counts)

  return loss_fn


def validate(objective_cfg) -> None:
  teacher_lib.source(objective_cfg)
  require(objective_cfg.self_distill_weight >= 0,
          f'objective.self_distill_weight={objective_cfg.self_distill_weight} must be >= 0')


def validate_model(model_cfg, objective_cfg) -> None:
  t_cfg = teacher_lib.load_config(objective_cfg)
  require(t_cfg.hidden_size == model_cfg.hidden_size,
          f"objective.name='self_distill': the teacher's hidden size {t_cfg.hidden_size} is not "
          f'model.hidden_size={model_cfg.hidden_size}: the teacher is the same model further '
          'pre-trained')


def flops_per_token(model_cfg, objective_cfg, seq_len: int, passes: dict) -> float:
  """MLM's trained pass, the student's unmasked pass (trained, 3x) and the teacher's (1x)."""
  t_cfg = teacher_lib.load_config(objective_cfg)
  teacher_pass = models.family(t_cfg).pass_flops(t_cfg, seq_len)['encoder']
  return (mlm.flops_per_token(model_cfg, objective_cfg, seq_len, passes)
          + 3 * passes['encoder'] + teacher_pass)


OBJECTIVE = Objective(
    make_loss=make_loss, needs=MASKED_LM, headline=lambda o: 'mlm_accuracy',
    flops_per_token=flops_per_token, perplexity_of='mlm_loss', validate=validate,
    load_frozen='mlm_jax.teacher_weights:load', validate_model=validate_model,
    check_vocab=teacher_lib.check_vocab)
