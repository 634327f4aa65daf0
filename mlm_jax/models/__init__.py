"""Flax modules only. MODELS maps config.model.name to a module class taking the model config."""
from mlm_jax.models.bert import BertForMaskedLM
from mlm_jax.models.token_detector import BertTokenDetector

MODELS = {
    'bert': BertForMaskedLM,
    'bert_token_detector': BertTokenDetector,
}
