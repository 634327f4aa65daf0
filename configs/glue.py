"""GLUE fine-tuning of a pre-trained encoder, with the BERT and ELECTRA papers' settings.

python -m mlm_jax.main --config=configs/glue.py:task=sst2 --workdir=DIR \
    --config.init_from.workdir=PRETRAIN_DIR --config.finetune.data_dir=GLUE_DIR

Variants: task (cola sst2 mrpc qqp stsb mnli qnli rte wnli); preset bert | electra; size
(electra: small base large, sets its lr and layer-wise decay); lr (overrides the preset's;
BERT's grid is 2e-5, 3e-5, 5e-5, picked on dev); generative (score the task's verbalizer words
with the MLM head at a [MASK] slot); zero_shot (generative, no training).

BERT (Devlin et al. 2019, sec. 4.1 / A.3): batch 32, 3 epochs, lr in {5e-5, 4e-5, 3e-5, 2e-5},
AdamW (eps 1e-6, weight decay 0.01), 10% linear warmup then linear decay, dropout 0.1, pooler
(tanh) + classifier head.
ELECTRA (Clark et al. 2020, table 7): lr 3e-4 small / 1e-4 base / 5e-5 large, layer-wise decay
0.8 small and base / 0.9 large, weight decay 0, batch 32, 10 epochs for RTE and STS-B and 3 for
the other tasks, 10% warmup, dropout 0.1, a GELU classification head.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib  # noqa: E402

ELECTRA = {'small': (3e-4, 0.8), 'base': (1e-4, 0.8), 'large': (5e-5, 0.9)}
ELECTRA_LONG = ('rte', 'stsb')  # 10 epochs
# Generative classification: template and one verbalizer word per label (label order).
GENERATIVE = {
    'sst2': ('{a} It was [MASK].', 'terrible,great'),
    'cola': ('{a} This is [MASK].', 'wrong,correct'),
    'mrpc': ('{a} ? [MASK] , {b}', 'no,yes'),
    'qqp': ('{a} ? [MASK] , {b}', 'no,yes'),
    'mnli': ('{a} ? [MASK] , {b}', 'no,yes,maybe'),
    'qnli': ('{a} ? [MASK] , {b}', 'yes,no'),
    'rte': ('{a} ? [MASK] , {b}', 'yes,no'),
    'wnli': ('{a} ? [MASK] , {b}', 'no,yes'),
}


def get_config(arg: str | None = None):
  v = config_lib.parse_variant(arg, {'task': 'sst2', 'preset': 'bert', 'size': 'base',
                                     'lr': 0.0, 'generative': False, 'zero_shot': False})
  c = base.get_base_config()
  f, t = c.finetune, c.train
  f.task = v['task']
  t.batch_size = 32
  t.adam_eps = 1e-6
  t.decay = 'linear'
  f.epochs, f.warmup_fraction, f.head_dropout = 3.0, 0.1, 0.1
  if v['preset'] == 'bert':
    t.learning_rate, t.weight_decay = 2e-5, 0.01
    f.head_activation = 'tanh'
  elif v['preset'] == 'electra':
    if v['size'] not in ELECTRA:
      raise config_lib.ConfigError(f'size={v["size"]!r} must be one of {list(ELECTRA)}')
    t.learning_rate, f.layerwise_lr_decay = ELECTRA[v['size']]
    t.weight_decay = 0.0
    f.head_activation = 'gelu'
    f.epochs = 10.0 if v['task'] in ELECTRA_LONG else 3.0
  else:
    raise config_lib.ConfigError(f'preset={v["preset"]!r} must be bert or electra')
  if v['lr']:
    t.learning_rate = v['lr']
  if v['generative'] or v['zero_shot']:
    f.method = 'generative'
    f.zero_shot = v['zero_shot']
    if v['task'] in GENERATIVE:
      f.template, f.verbalizer = GENERATIVE[v['task']]
  f.max_seq_len = 128
  c.eval.batch_size = 32
  c.eval.every_steps = 0  # the dev set is scored at the end
  c.checkpoint.every_steps = 500
  c.checkpoint.keep = 1
  t.log_every_steps = 50
  c.lock()
  return c
