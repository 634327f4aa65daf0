"""Loss factories. OBJECTIVES maps config.objective.name to make_loss(model, cfg, tokens, ...)."""
from mlm_jax.objectives import mlm

OBJECTIVES = {
    'mlm': mlm.make_loss,
}
