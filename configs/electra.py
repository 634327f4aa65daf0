"""ELECTRA pre-training (Clark et al., 2020): sizes small | base | large (paper, table 6), tiny.

python -m mlm_jax.main --config=configs/electra.py:size=small --workdir=DIR
`sharing=gdes` swaps ELECTRA's tied embeddings for DeBERTa-v3's gradient-disentangled sharing.
`size=tiny` is a 2-layer, 64-wide model on the built-in corpus: seconds, for tests and smoke runs.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib  # noqa: E402

# size: (layers, hidden, heads, mlp, embedding, generator fraction, mask rate, lr, batch, steps,
# seq_len). Max predictions follow ELECTRA's code: int((mask_rate + 0.005) * seq_len).
SIZES = {
    'small': (12, 256, 4, 1024, 128, 1 / 4, 0.15, 5e-4, 128, 1_000_000, 128),
    'base': (12, 768, 12, 3072, 768, 1 / 3, 0.15, 2e-4, 256, 766_000, 512),
    'large': (24, 1024, 16, 4096, 1024, 1 / 4, 0.25, 2e-4, 2048, 400_000, 512),
    'tiny': (2, 64, 4, 128, 32, 1 / 4, 0.15, 3e-3, 16, 20, 32),
}


def get_config(arg: str | None = None):
  v = config_lib.parse_variant(arg, {'size': 'small', 'sharing': 'tied'})
  if v['size'] not in SIZES:
    raise config_lib.ConfigError(f'electra config: size={v["size"]!r} is not one of {list(SIZES)}')
  c = base.get_base_config()
  set_electra(c, v['size'], v['sharing'])
  c.lock()
  return c


def set_electra(c, size: str, sharing: str = 'tied') -> None:
  """The paper's model and optimiser settings for SIZE, on an unlocked config."""
  layers, hidden, heads, mlp, emb, frac, rate, lr, batch, steps, seq_len = SIZES[size]
  m, o, t = c.model, c.objective, c.train
  m.name = 'electra'
  m.num_layers, m.hidden_size, m.num_heads, m.mlp_dim = layers, hidden, heads, mlp
  m.embedding_size, m.generator_size_fraction, m.embedding_sharing = emb, frac, sharing
  o.name = 'electra'
  o.mask_rate = rate
  o.max_predictions = int((rate + 0.005) * seq_len)
  o.mask_token_fraction, o.random_token_fraction = 0.85, 0.0  # 85% [MASK], 15% kept
  o.disc_weight = 50.0
  c.data.seq_len = seq_len
  # Adam b1 0.9, b2 0.999, eps 1e-6, wd 0.01, 10k warmup, linear decay, dropout 0.1 (= base).
  t.learning_rate, t.batch_size, t.steps = lr, batch, steps
  t.warmup_steps = 10_000
  t.log_every_steps = 100
  c.eval.every_steps = 10_000
  c.eval.steps = 100
  c.checkpoint.every_steps = 10_000
  if size == 'tiny':  # the smoke config's data and loop settings
    m.vocab_size, m.max_positions = 512, 64
    c.data.vocab_size, c.data.shuffle_buffer = 512, 256
    t.warmup_steps, t.log_every_steps = 2, 5
    c.eval.every_steps, c.eval.steps, c.eval.batch_size = 0, 2, 16
    c.checkpoint.every_steps = 10
