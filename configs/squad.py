"""SQuAD fine-tuning (v1.1 or v2.0) with BERT's settings: 384 tokens, document stride 128,
questions up to 64 tokens, lr 5e-5 (v1.1: 3 epochs, batch 32 (v2.0: 2 epochs, batch 48),
20-best decoding with answers up to 30 tokens; v2.0 searches the no-answer threshold on dev.

python -m mlm_jax.main --config=configs/squad.py:version=1.1 --workdir=DIR \
    --config.init_from.workdir=PRE --config.finetune.train_file=train-v1.1.json \
    --config.finetune.dev_file=dev-v1.1.json
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib  # noqa: E402


def get_config(arg: str | None = None):
  v = config_lib.parse_variant(arg, {'version': '1.1', 'preset': 'bert', 'size': 'base'})
  c = base.get_base_config()
  f, t = c.finetune, c.train
  f.task = 'squad'
  if v['version'] not in ('1.1', '2.0'):
    raise config_lib.ConfigError(f'version={v["version"]!r} must be 1.1 or 2.0')
  f.squad_version = v['version']
  f.max_seq_len, f.doc_stride, f.max_query_len = 384, 128, 64
  f.n_best, f.max_answer_len = 20, 30
  f.warmup_fraction = 0.1
  t.adam_eps, t.decay = 1e-6, 'linear'
  if v['preset'] == 'bert':
    t.learning_rate, t.weight_decay = 5e-5, 0.01
    f.epochs, t.batch_size = (3.0, 32) if v['version'] == '1.1' else (2.0, 48)
  elif v['preset'] == 'electra':  # ELECTRA table 7: 2 epochs, its GLUE lr and layer decay
    from configs.glue import ELECTRA  # pylint: disable=g-import-not-at-top
    t.learning_rate, f.layerwise_lr_decay = ELECTRA[v['size']]
    t.weight_decay, f.epochs, t.batch_size = 0.0, 2.0, 32
  else:
    raise config_lib.ConfigError(f'preset={v["preset"]!r} must be bert or electra')
  c.model.max_positions = 512
  c.eval.batch_size = 32
  c.eval.every_steps = 0
  c.checkpoint.every_steps = 500
  c.checkpoint.keep = 1
  c.lock()
  return c
