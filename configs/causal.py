"""Left-to-right pre-training on the same encoder code: causal LM, prefix LM, MEAP (masked
inputs, next-token targets) and GPT-BERT (masked and causal rows in one model), sized like the
demo, with the attention pattern each needs.

python -m mlm_jax.main --config=configs/causal.py:objective=clm --workdir=/tmp/clm
Variants: objective=clm|prefix_lm|meap|gpt_bert (default clm); tiny (configs/smoke.py's 2-layer, 64-wide
model, for tests and launch checks). The progress line shows next-token accuracy; eval
records lm_loss and its perplexity per token.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import demo, smoke  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib, objectives  # noqa: E402

CAUSAL = ('clm', 'prefix_lm', 'meap', 'gpt_bert')


def get_config(arg: str | None = None):
  v = config_lib.parse_variant(arg, {'objective': 'clm', 'tiny': False})
  if v['objective'] not in CAUSAL:
    raise config_lib.ConfigError(f'objective={v["objective"]!r} must be one of {CAUSAL}')
  c = smoke.get_config() if v['tiny'] else demo.get_config('bert')  # locked: no new keys
  c.objective.name = v['objective']
  c.model.name = objectives.default_model(v['objective'])
  c.model.attention_pattern = objectives.objective(c.objective).attention[0]
  return c
