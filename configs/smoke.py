"""A 2-layer, 64-wide BERT on the built-in corpus: seconds per run, for smoke tests and for
checking a launch (mesh, hosts, checkpoints) before paying for a real model.

python -m mlm_jax.main --config=configs/smoke.py --workdir=/tmp/smoke
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base  # noqa: E402  (config files are loaded by path)


def get_config(arg: str | None = None):
  del arg
  c = base.get_base_config()
  m = c.model
  m.vocab_size, m.hidden_size, m.num_layers, m.num_heads, m.mlp_dim = 512, 64, 2, 4, 128
  m.max_positions = 64
  c.data.seq_len = 32
  c.data.vocab_size = 512
  c.data.shuffle_buffer = 256
  c.objective.max_predictions = 6
  c.train.steps = 20
  c.train.batch_size = 16
  c.train.learning_rate = 3e-3
  c.train.warmup_steps = 2
  c.train.log_every_steps = 5
  c.eval.every_steps = 0
  c.eval.steps = 2
  c.eval.batch_size = 16
  c.checkpoint.every_steps = 10
  c.lock()
  return c
