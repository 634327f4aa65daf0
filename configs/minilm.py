"""MiniLM distillation (Wang et al. 2020; mlm_jax/objectives/minilm.py): a student of free depth
and width learns a frozen teacher's last-layer self-attention distributions and value relations.

  python -m mlm_jax.main --config=configs/minilm.py:layers=4,hidden=192,heads=12 \
      --workdir=/tmp/student --config.objective.teacher_hf_dir=/path/to/bert-base-uncased \
      --config.data.vocab_path=/path/to/bert-base-uncased

The teacher is a local Hugging Face directory (BERT, RoBERTa, ELECTRA, ModernBERT) or an mlm_jax
run (--config.objective.teacher_workdir=RUN); the student reads the teacher's vocabulary
(data.vocab_path: the HF directory, or the run's RUN/vocab/ file). Teacher assistant (sec. 3.3,
for students of at most half the teacher's depth and width): distil an assistant with the
teacher's depth and the student's width first, then the student with teacher_workdir = the
assistant's run.

Variants: layers, hidden (the student; MLP 4 x hidden), heads (must equal the teacher's: 12 for
BERT-base and all-MiniLM-L6-v2), size (a compact BERT preset: tiny mini small medium; replaces
layers/hidden/heads). Data and loop are configs/base.py's (the built-in corpus): set the
teacher's corpus with data.* keys. The optimiser is the loop's default (AdamW, warmup, linear
decay), not a setting read from the paper.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib  # noqa: E402


def get_config(arg: str | None = None):
  v = config_lib.parse_variant(arg, {'layers': 4, 'hidden': 192, 'heads': 12, 'size': ''})
  c = base.get_base_config()
  if v['size']:
    config_lib.set_bert_size(c, v['size'])
  else:
    m = c.model
    m.num_layers, m.hidden_size, m.num_heads = v['layers'], v['hidden'], v['heads']
    m.mlp_dim = 4 * v['hidden']
    if m.hidden_size % m.num_heads:
      raise config_lib.ConfigError(f'hidden={m.hidden_size} is not a multiple of '
                                   f'heads={m.num_heads}')
  c.objective.name = 'minilm'
  c.lock()
  return c
