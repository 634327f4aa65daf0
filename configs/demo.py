"""The quick-start demo: a small BERT trained on the text shipped with CPython, on a CPU.

python -m mlm_jax.main --config=configs/demo.py --workdir=/tmp/mlm_demo
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base  # noqa: E402  (config files are loaded by path)


def get_config(arg: str | None = None):
  del arg
  c = base.get_base_config()
  c.model.vocab_size = 4000
  c.model.hidden_size = 192
  c.model.num_layers = 4
  c.model.num_heads = 3
  c.model.mlp_dim = 768
  c.model.max_positions = 128
  c.model.dropout_rate = 0.0
  c.model.attention_dropout_rate = 0.0
  c.data.task = 'builtin_docs'
  c.data.vocab_size = 4000
  c.data.seq_len = 128
  c.data.shuffle_buffer = 4000
  c.train.steps = 600
  c.train.batch_size = 32
  c.train.learning_rate = 1e-3
  c.train.warmup_steps = 50
  c.train.weight_decay = 0.01
  c.train.log_every_steps = 50
  c.eval.every_steps = 200
  c.checkpoint.every_steps = 200
  c.lock()
  return c
