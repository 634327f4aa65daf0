"""Flax modules only. MODELS maps config.model.name to a module class taking the model config."""
from mlm_jax.models.bert import BertForMaskedLM

MODELS = {
    'bert': BertForMaskedLM,
}
