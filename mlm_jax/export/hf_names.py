"""Name maps: Hugging Face state-dict names <-> mlm_jax parameter paths, with the layout
transform of each. One table per family, shared by import and export. The BERT table is the
template; RoBERTa and ELECTRA differ in the prefix and the MLM head only.

Layouts: `linear` HF (out, in) <-> ours (in, out); `qkv` HF (H*K, D) <-> ours (D, H, K);
`qkv_bias` (H*K,) <-> (H, K); `attn_out` HF (D, H*K) <-> ours (H, K, D); `copy` as is.
"""
import numpy as np

EMBEDDINGS = [
    ('bert.embeddings.word_embeddings.weight', 'embeddings/word_embeddings/embedding', 'copy'),
    ('bert.embeddings.position_embeddings.weight', 'embeddings/position_embeddings/embedding',
     'copy'),
    ('bert.embeddings.LayerNorm.weight', 'embeddings/norm/scale', 'copy'),
    ('bert.embeddings.LayerNorm.bias', 'embeddings/norm/bias', 'copy'),
]
TOKEN_TYPE = [('bert.embeddings.token_type_embeddings.weight',
               'embeddings/token_type_embeddings/embedding', 'copy')]
_L = 'bert.encoder.layer.{i}.'
_O = 'encoder/layers_{i}/'
LAYER = [
    (_L + 'attention.self.query.weight', _O + 'attention/query/kernel', 'qkv'),
    (_L + 'attention.self.query.bias', _O + 'attention/query/bias', 'qkv_bias'),
    (_L + 'attention.self.key.weight', _O + 'attention/key/kernel', 'qkv'),
    (_L + 'attention.self.key.bias', _O + 'attention/key/bias', 'qkv_bias'),
    (_L + 'attention.self.value.weight', _O + 'attention/value/kernel', 'qkv'),
    (_L + 'attention.self.value.bias', _O + 'attention/value/bias', 'qkv_bias'),
    (_L + 'attention.output.dense.weight', _O + 'attention/out/kernel', 'attn_out'),
    (_L + 'attention.output.dense.bias', _O + 'attention/out/bias', 'copy'),
    (_L + 'attention.output.LayerNorm.weight', _O + 'attention_norm/scale', 'copy'),
    (_L + 'attention.output.LayerNorm.bias', _O + 'attention_norm/bias', 'copy'),
    (_L + 'intermediate.dense.weight', _O + 'mlp/wi/kernel', 'linear'),
    (_L + 'intermediate.dense.bias', _O + 'mlp/wi/bias', 'copy'),
    (_L + 'output.dense.weight', _O + 'mlp/wo/kernel', 'linear'),
    (_L + 'output.dense.bias', _O + 'mlp/wo/bias', 'copy'),
    (_L + 'output.LayerNorm.weight', _O + 'mlp_norm/scale', 'copy'),
    (_L + 'output.LayerNorm.bias', _O + 'mlp_norm/bias', 'copy'),
]
MLM_HEAD = [
    ('cls.predictions.transform.dense.weight', 'mlm_head/transform/kernel', 'linear'),
    ('cls.predictions.transform.dense.bias', 'mlm_head/transform/bias', 'copy'),
    ('cls.predictions.transform.LayerNorm.weight', 'mlm_head/norm/scale', 'copy'),
    ('cls.predictions.transform.LayerNorm.bias', 'mlm_head/norm/bias', 'copy'),
    ('cls.predictions.bias', 'mlm_head/bias', 'copy'),
]
# Written on export for loaders that look for them; tied to tensors above, ignored on import.
TIED_ON_EXPORT = {'cls.predictions.decoder.weight': 'bert.embeddings.word_embeddings.weight',
                  'cls.predictions.decoder.bias': 'cls.predictions.bias'}


# family -> (encoder prefix replacing 'bert.', MLM head rows)
HEADS = {
    'bert': ('bert.', MLM_HEAD),
    'roberta': ('roberta.', [
        ('lm_head.dense.weight', 'mlm_head/transform/kernel', 'linear'),
        ('lm_head.dense.bias', 'mlm_head/transform/bias', 'copy'),
        ('lm_head.layer_norm.weight', 'mlm_head/norm/scale', 'copy'),
        ('lm_head.layer_norm.bias', 'mlm_head/norm/bias', 'copy'),
        ('lm_head.bias', 'mlm_head/bias', 'copy'),
    ]),
    'electra': ('electra.', [  # the generator's head (ElectraForMaskedLM)
        ('generator_predictions.dense.weight', 'mlm_head/transform/kernel', 'linear'),
        ('generator_predictions.dense.bias', 'mlm_head/transform/bias', 'copy'),
        ('generator_predictions.LayerNorm.weight', 'mlm_head/norm/scale', 'copy'),
        ('generator_predictions.LayerNorm.bias', 'mlm_head/norm/bias', 'copy'),
        ('generator_lm_head.bias', 'mlm_head/bias', 'copy'),
    ]),
}


MODERNBERT = 'modernbert'  # read by export/modernbert_export.py (its own layout)
IMPORTABLE_MODEL_TYPES = tuple(HEADS) + (MODERNBERT,)  # config.json model_type values we read
IMPORTED_FAMILY = 'bert'  # the model family whose parameter tree a BERT-layout import produces
IMPORTED_FAMILIES = {MODERNBERT: 'modernbert'}  # other model_types: the family they become


def table(model_cfg, family: str = 'bert') -> list[tuple[str, str, str]]:
  prefix, head = HEADS[family]
  rows = EMBEDDINGS + (TOKEN_TYPE if model_cfg.type_vocab_size else [])
  for i in range(model_cfg.num_layers):
    rows += [(hf.format(i=i), ours.format(i=i), kind) for hf, ours, kind in LAYER]
  rows = [(prefix + hf[len('bert.'):] if hf.startswith('bert.') else hf, ours, kind)
          for hf, ours, kind in rows]
  return rows + head


def to_ours(kind: str, w: np.ndarray, heads: int) -> np.ndarray:
  if kind == 'linear':
    return w.T
  if kind == 'qkv':
    return w.T.reshape(w.shape[1], heads, -1)
  if kind == 'qkv_bias':
    return w.reshape(heads, -1)
  if kind == 'attn_out':
    return w.T.reshape(heads, -1, w.shape[0])
  return w


def to_hf(kind: str, w: np.ndarray) -> np.ndarray:
  if kind == 'linear':
    return w.T
  if kind == 'qkv':
    return w.reshape(w.shape[0], -1).T
  if kind == 'qkv_bias':
    return w.reshape(-1)
  if kind == 'attn_out':
    return w.reshape(-1, w.shape[-1]).T
  return w


# Fine-tuned encoders (export/finetune_export.py), keyed by transformers model_type.
BERT, ELECTRA = 'bert', 'electra'
FINETUNE_HEAD_ACTIVATION = {BERT: 'tanh', ELECTRA: 'gelu'}  # pooler tanh; ELECTRA head gelu
FINETUNE_PROJECT = [('embeddings_project.weight', 'embeddings_project/kernel', 'linear'),
                    ('embeddings_project.bias', 'embeddings_project/bias', 'copy')]
FINETUNE_HEADS = {  # (family, kind) -> rows: HF name, our path under 'head', layout
    ('bert', 'classification'): [('bert.pooler.dense.weight', 'dense/kernel', 'linear'),
                                 ('bert.pooler.dense.bias', 'dense/bias', 'copy'),
                                 ('classifier.weight', 'out/kernel', 'linear'),
                                 ('classifier.bias', 'out/bias', 'copy')],
    ('electra', 'classification'): [('classifier.dense.weight', 'dense/kernel', 'linear'),
                                    ('classifier.dense.bias', 'dense/bias', 'copy'),
                                    ('classifier.out_proj.weight', 'out/kernel', 'linear'),
                                    ('classifier.out_proj.bias', 'out/bias', 'copy')],
}
for _family in ('bert', 'electra'):
  FINETUNE_HEADS[_family, 'span'] = [('qa_outputs.weight', 'out/kernel', 'linear'),
                                     ('qa_outputs.bias', 'out/bias', 'copy')]
FINETUNE_CLASSES = {('bert', 'classification'): 'BertForSequenceClassification',
                    ('bert', 'span'): 'BertForQuestionAnswering',
                    ('electra', 'classification'): 'ElectraForSequenceClassification',
                    ('electra', 'span'): 'ElectraForQuestionAnswering',
                    ('bert', 'generative'): 'BertForMaskedLM'}
