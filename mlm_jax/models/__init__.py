"""Flax modules only. MODELS maps config.model.name to a module class taking the model config."""
from mlm_jax.models.bert import BertForMaskedLM
from mlm_jax.models.electra import ElectraForPreTraining
from mlm_jax.models.token_detector import BertTokenDetector

MODELS = {
    'bert': BertForMaskedLM,
    'electra': ElectraForPreTraining,
    'bert_token_detector': BertTokenDetector,
}
