"""The objective contract: a loss factory, a typed loss output, the families it works with,
its training FLOPs and its config checks.

An objective is one module under objectives/ declaring `OBJECTIVE = Objective(...)` (or
several); the registry in objectives/__init__.py maps config.objective.name to it. The train
loop, metrics and tools use only these fields, never the objective's name.
"""
import dataclasses
from typing import Any, Callable

import flax
import jax

from mlm_jax.models.family import (  # noqa: F401  (re-exported for objectives)
    GENERATOR_DISCRIMINATOR, MASKED_LM, NGRAM_MLM, POSITION_PREDICTOR, TOKEN_DETECTOR)


@flax.struct.dataclass
class LossOutput:
  """What every loss_fn(params, batch, rng, train) returns.

  loss: the scalar that is differentiated (a mean over this batch).
  metrics: name -> (sum, count); reported as sum / count, summed over steps and micro-batches.
  label_counts: (V,) histogram of prediction targets (eval), for the most-frequent-token
    baseline; None when the objective has no vocabulary targets.
  new_state: a stateful objective's state after this batch (train), None to keep it.
  """
  loss: jax.Array
  metrics: dict
  label_counts: Any = None
  new_state: Any = None


@dataclasses.dataclass(frozen=True)
class Objective:
  """make_loss(model, objective_cfg, tokens, word_start_V) -> loss_fn returning LossOutput.

  A stateful objective declares init_state(objective_cfg) -> its initial state (a dict of
  arrays whose shapes depend on the config alone); its loss_fn then takes
  objective_state=... and returns LossOutput.new_state. The state lives in TrainState (not
  trained by gradients, replicated, checkpointed).

  flops_per_token(model_cfg, objective_cfg, seq_len, pass_flops) -> training FLOPs per token:
  every pass the loss runs, forward+backward as 3x forward, forward-only passes (sampling under
  stop_gradient) as 1x; PASS_FLOPS is the model family's forward FLOPs per pass.
  """
  make_loss: Callable[..., Callable[..., LossOutput]]
  needs: str  # the model interface it drives (models/family.py: MASKED_LM, ...)
  headline: Callable[[Any], str]  # objective_cfg -> the metric the progress line shows
  flops_per_token: Callable[[Any, Any, int, dict], float]
  validate: Callable[[Any], None] = lambda objective_cfg: None
  perplexity_of: str | None = None  # the metric whose exp() is reported as perplexity
  attention: tuple[str, ...] = ()  # model.attention_pattern values it needs; () any
  uses_mask_token: bool = True  # False: trains with a vocabulary that has no [MASK]
  uses_word_starts: bool = False  # its units respect word boundaries whatever the masking keys
  init_state: Callable[[Any], dict] = lambda objective_cfg: {}  # see above; {}: stateless
  # A frozen model the loss runs without training it (a distillation teacher): 'module:function',
  # objective_cfg -> a teacher_weights.Teacher (model config, host parameters); named, not
  # imported (loading needs checkpointing, which imports the objectives). The loop places the
  # parameters on the mesh by their logical axes and hands them to loss_fn(..., frozen=...).
  load_frozen: str = ''
  # Checks of the model against the objective (model_cfg, objective_cfg), one-line errors.
  validate_model: Callable[[Any, Any], None] = lambda model_cfg, objective_cfg: None
  # Checks of the run's vocabulary (objective_cfg, data.vocab.Vocab), before compiling.
  check_vocab: Callable[[Any, Any], None] = lambda objective_cfg, vocab: None
