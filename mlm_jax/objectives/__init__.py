"""Loss factories. OBJECTIVES maps config.objective.name to its declaration
(objectives/objective.py): the one place that names the objectives."""
import importlib

from mlm_jax import models
from mlm_jax.config_lib import ConfigError, require
from mlm_jax.objectives import (causal, cluster_substitution, electra, ernie_gram, hybrid,
                                masking, mcl, minilm, mlm, position_prediction, self_distillation,
                                self_evolution, small_model_kd, substitution)
from mlm_jax.objectives.objective import LossOutput, Objective  # noqa: F401  (the contract)

OBJECTIVES: dict[str, Objective] = {
    'mlm': mlm.OBJECTIVE,
    'electra': electra.OBJECTIVE,
    'mcl': mcl.OBJECTIVE,
    'rts': substitution.RTS,
    'crts': cluster_substitution.OBJECTIVE,
    'crts_simhash': substitution.CRTS_SIMHASH,
    'slm': substitution.SLM,
    'clm': causal.CLM,
    'prefix_lm': causal.PREFIX_LM,
    'meap': causal.MEAP,
    'gpt_bert': hybrid.OBJECTIVE,
    'ernie_gram': ernie_gram.OBJECTIVE,
    'position_prediction': position_prediction.OBJECTIVE,
    'self_evolution': self_evolution.OBJECTIVE,
    'minilm': minilm.OBJECTIVE,
    'self_distill': self_distillation.OBJECTIVE,
    'salt': small_model_kd.OBJECTIVE,
}


def objective(objective_cfg) -> Objective:
  if objective_cfg.name not in OBJECTIVES:
    raise ConfigError(f'objective.name={objective_cfg.name!r} is not one of {list(OBJECTIVES)}')
  return OBJECTIVES[objective_cfg.name]


def word_starts(objective_cfg, word_start_V):
  """WORD_START_V (the vocabulary's word-start table) when the objective's units respect word
  boundaries, through its masking keys or by its own declaration; else None. make_loss's
  word_start_V argument."""
  uses = masking.uses_word_starts(objective_cfg) or objective(objective_cfg).uses_word_starts
  return word_start_V if uses else None


def validate(objective_cfg, model_cfg, seq_len: int) -> None:
  """Masking keys every objective shares, the model pairing, then the objective's own checks."""
  o = objective_cfg
  obj = objective(o)
  fitting = [name for name, fam in models.MODELS.items() if obj.needs in fam.provides]
  require(obj.needs in models.family(model_cfg).provides,
           f'objective.name={o.name!r} needs a {obj.needs} model (model.name in {fitting}), '
           f'not model.name={model_cfg.name!r}')
  require(not obj.attention or model_cfg.attention_pattern in obj.attention,
           f'objective.name={o.name!r} needs model.attention_pattern in {list(obj.attention)}, '
           f'not {model_cfg.attention_pattern!r}')
  require(0 < o.mask_rate < 1, f'objective.mask_rate={o.mask_rate} must be in (0, 1)')
  require(o.max_predictions >= 0, f'objective.max_predictions={o.max_predictions} must be >= 0 '
           '(0: derived from the rate and length)')
  need = masking.prediction_slots(o.mask_rate, seq_len)
  require(not o.max_predictions or o.max_predictions >= need,
           f'objective.max_predictions={o.max_predictions} is too small for objective.mask_rate='
           f'{o.mask_rate} at data.seq_len={seq_len}: a full row needs {need} slots (the cap would '
           f'lower the rate); set it to 0 (derived) or at least {need}')
  require(o.max_predictions <= seq_len,
           f'objective.max_predictions={o.max_predictions} exceeds data.seq_len={seq_len}')
  require(o.masking in masking.SCHEMES,
           f'objective.masking={o.masking!r} must be one of {list(masking.SCHEMES)}')
  require(0 < o.span_p <= 1, f'objective.span_p={o.span_p} must be in (0, 1]')
  require(o.span_max_words >= 1, f'objective.span_max_words={o.span_max_words} must be >= 1')
  for key in ('mask_token_fraction', 'random_token_fraction'):
    require(0 <= o[key] <= 1, f'objective.{key}={o[key]} must be in [0, 1]')
  require(o.mask_token_fraction + o.random_token_fraction <= 1,
           'objective.mask_token_fraction + objective.random_token_fraction must be <= 1')
  obj.validate(o)
  obj.validate_model(model_cfg, o)


def load_frozen(objective_cfg):
  """The objective's frozen model (teacher_weights.Teacher), or None when it has none."""
  target = objective(objective_cfg).load_frozen
  if not target:
    return None
  module, _, function = target.partition(':')
  return getattr(importlib.import_module(module), function)(objective_cfg)


def init_state_fn(objective_cfg):
  """() -> the objective's initial state ({} for stateless ones), for state.make_init_fn."""
  obj = objective(objective_cfg)
  return lambda: obj.init_state(objective_cfg)


def check_vocabulary(objective_cfg, tokens, vocab_path: str, vocab=None) -> None:
  """A vocabulary without [MASK] only for objectives that never write it; then the objective's
  own check of VOCAB (the loaded data.vocab.Vocab), when given."""
  obj = objective(objective_cfg)
  if vocab is not None:
    obj.check_vocab(objective_cfg, vocab)
  if tokens.has_mask or not obj.uses_mask_token:
    return
  fine = [name for name, obj in OBJECTIVES.items() if not obj.uses_mask_token]
  raise ConfigError(f'data.vocab_path={vocab_path}: vocabulary has no [MASK] token, which '
                    f'objective.name={objective_cfg.name!r} needs (objectives without: {fine})')


def flops_per_token(config) -> float:
  """Training FLOPs per token of config's objective on its model (every pass it runs)."""
  passes = models.family(config.model).pass_flops(config.model, config.data.seq_len)
  return objective(config.objective).flops_per_token(config.model, config.objective,
                                                     config.data.seq_len, passes)


def default_model(objective_name: str) -> str:
  """The first registered model family that provides what the objective needs."""
  needs = OBJECTIVES[objective_name].needs
  return next(name for name, fam in models.MODELS.items() if needs in fam.provides)
