"""MosaicBERT (Portes et al. 2023, "MosaicBERT: A Bidirectional Encoder Optimized for Fast
Pretraining"): sizes base|large (BERT's), tiny (tests), from the authors' recipe
(mosaicml/examples, benchmarks/bert/yamls/main/mosaic-bert-base-uncased.yaml).

python -m mlm_jax.main --config=configs/mosaicbert.py:size=base,vocab=8000 --workdir=DIR
Architecture: BERT's post-LN block with ALiBi attention biases in place of position embeddings
(so it runs past its training length), a GeGLU MLP, no attention dropout; the built-in
padding removal is our packing (rows filled with documents, segments kept apart by the
attention mask). Recipe: 30% masking at seq 128, decoupled AdamW lr 5e-4, betas (0.9, 0.98),
eps 1e-6, decoupled weight decay 1e-5 (train.weight_decay = 1e-5 / lr in optax's terms), warmup
6% of the run, linear decay to 0.02 x the peak, batch 4096,
~70k steps (286.72M samples), bf16 on accelerators (model.dtype=bfloat16 to set it), vocabulary
30528 (bert-base-uncased's, padded to a multiple of 64; `vocab` sets it: the built-in corpus
supports about 12k trained pieces, so vocab=8000 there). Differences: the authors' GeGLU input
projection has no bias (ours has one, as every other Dense of a BERT block); their evaluation
masks 15% (ours masks at the training rate).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib  # noqa: E402

STEPS = 70_000  # 286,720,000 samples / 4096


def get_config(arg: str | None = None):
  v = config_lib.parse_variant(arg, {'size': 'base', 'vocab': 30528})
  if v['size'] not in ('base', 'large', 'tiny'):
    raise config_lib.ConfigError(f'mosaicbert config: size={v["size"]!r} must be base, large '
                                 'or tiny')
  c = base.get_base_config()
  config_lib.set_bert_size(c, v['size'])
  m = c.model
  m.vocab_size = 8000 if v['size'] == 'tiny' and v['vocab'] == 30528 else v['vocab']
  m.position_scheme = 'alibi'
  m.mlp_kind = 'geglu'
  m.attention_dropout_rate = 0.0
  c.data.vocab_size = m.vocab_size
  c.data.seq_len = 128
  c.objective.mask_rate = 0.3
  t = c.train
  # Decoupled weight decay 1e-5 per step at the peak rate: optax's adamw scales weight decay by
  # the learning rate, so 1e-5 / 5e-4.
  t.learning_rate, t.adam_b1, t.adam_b2, t.adam_eps = 5e-4, 0.9, 0.98, 1e-6
  t.weight_decay = 1e-5 / t.learning_rate
  t.decay, t.end_lr_fraction = 'linear', 0.02
  if v['size'] != 'tiny':
    t.cpu_schedule = 'memory'  # on CPU: -5% to -6% peak memory at equal speed (base)
    t.batch_size, t.steps = 4096, STEPS
    t.warmup_steps = round(0.06 * STEPS)
    t.log_every_steps = 100
    c.eval.every_steps = 2000
    c.checkpoint.every_steps = 2000
  else:
    t.warmup_steps = round(0.06 * t.steps)
  c.lock()
  return c
