"""Loss factories. OBJECTIVES maps config.objective.name to make_loss(model, cfg, tokens, ...)."""
from mlm_jax.objectives import electra, mcl, mlm, substitution

OBJECTIVES = {
    'mlm': mlm.make_loss,
    'electra': electra.make_loss,
    'mcl': mcl.make_loss,
    'rts': substitution.make_rts_loss,
    'crts': substitution.make_crts_loss,
    'slm': substitution.make_slm_loss,
}
