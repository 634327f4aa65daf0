"""ModernBERT (Warner et al. 2024): sizes base|large (the paper's), tiny (tests, demos).

python -m mlm_jax.main --config=configs/modernbert.py:size=base,vocab=8000 --workdir=DIR
Architecture (models/modernbert.py): pre-LN without biases, GeGLU, rotary positions (base
160000 in global layers, 10000 in local ones), sliding-window attention (128) with every third
layer global, 30% masking with predictions only at masked positions (ModernBERT's sparse head),
exported as transformers' ModernBertForMaskedLM. Recipe from the paper: seq_len 1024 (phase 1),
AdamW lr 8e-4 (base) / 5e-4 (large), betas (0.9, 0.98), eps 1e-6, decoupled weight decay 1e-5
(optax's train.weight_decay = 1e-5 / lr: optax scales it by the rate), no dropout. `vocab`
sizes the model and a trained vocabulary (the built-in corpus supports about 12k pieces:
vocab=8000 there; ModernBERT's own tokenizer goes in data.vocab_path). Not built: StableAdamW,
the trapezoidal (warmup-stable-decay) schedule and batch-size warmup (linear decay and AdamW
stand in); its OLMo-derived 50368-token BPE tokenizer is loaded from a local tokenizer
directory (data.vocab_path), never downloaded.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib  # noqa: E402

# size -> (hidden, layers, heads, GeGLU width, peak learning rate)
SIZES = {'base': (768, 22, 12, 1152, 8e-4), 'large': (1024, 28, 16, 2624, 5e-4),
         'tiny': (64, 4, 2, 128, 1e-3)}


def get_config(arg: str | None = None):
  v = config_lib.parse_variant(arg, {'size': 'base', 'vocab': 50368})
  if v['size'] not in SIZES:
    raise config_lib.ConfigError(f'modernbert config: size={v["size"]!r} must be one of '
                                 f'{list(SIZES)}')
  hidden, layers, heads, glu, lr = SIZES[v['size']]
  tiny = v['size'] == 'tiny'
  c = base.get_base_config()
  m = c.model
  m.name = 'modernbert'
  m.hidden_size, m.num_layers, m.num_heads, m.mlp_dim = hidden, layers, heads, glu
  m.vocab_size = 8000 if tiny and v['vocab'] == 50368 else v['vocab']
  m.max_positions = 8192  # rotary: no table; written as max_position_embeddings on export
  m.type_vocab_size = 0
  m.pre_layer_norm, m.first_attention_norm = True, False
  m.use_bias, m.head_transform_bias, m.norm_kind, m.layer_norm_eps = False, False, 'layernorm', 1e-5
  m.mlp_kind = 'geglu'
  m.position_scheme, m.rotary_base, m.local_rotary_base = 'rotary', 160_000.0, 10_000.0
  m.attention_pattern, m.attention_window, m.global_attention_every = 'sliding_window', 128, 3
  m.dropout_rate = m.attention_dropout_rate = 0.0
  c.data.vocab_size = m.vocab_size
  c.data.seq_len = 128 if tiny else 1024
  c.objective.mask_rate = 0.3
  c.train.learning_rate = lr
  # The paper's decoupled 1e-5 per step at the peak rate: optax's adamw multiplies weight
  # decay by the learning rate, so 1e-5 / lr gives the same decay.
  c.train.weight_decay = 1e-5 / lr
  c.train.adam_b1, c.train.adam_b2, c.train.adam_eps = 0.9, 0.98, 1e-6
  if not tiny:
    c.train.cpu_schedule = 'memory'  # on CPU: -5% to -8% peak memory at equal speed (base)
    c.train.batch_size = 256
    c.train.warmup_steps = 3_000
    c.train.steps = 200_000
    c.train.log_every_steps = 100
    c.eval.every_steps = 5_000
    c.checkpoint.every_steps = 5_000
  c.lock()
  return c
