"""BERT pre-training (Devlin et al. 2019): sizes tiny|mini|small|medium|base|large, seq 128|512.

python -m mlm_jax.main --config=configs/bert.py:size=mini,seq_len=128,vocab=8000 --workdir=DIR
Phase 1 of the paper is seq_len=128, phase 2 seq_len=512. Prediction slots are derived from
objective.mask_rate and seq_len (19 at 128 and 76 at 512 for 15%; the paper's 20th slot at 128 is
never used), so --config.objective.mask_rate=0.3 needs no other key.
`vocab` sizes both the model's embedding and the SentencePiece vocabulary trained on the corpus
(default 30522, the paper's): the built-in corpus (the default data) supports at most ~12k
pieces, so runs on it take vocab=8000; a real corpus (data.task=files, tfds, ...) the default.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib  # noqa: E402

SEQ_LENS = (128, 512)


def get_config(arg: str | None = None):
  v = config_lib.parse_variant(arg, {'size': 'base', 'seq_len': 128, 'vocab': 30522})
  if v['seq_len'] not in SEQ_LENS:
    raise config_lib.ConfigError(f'bert config: seq_len={v["seq_len"]} must be 128 or 512')
  c = base.get_base_config()
  config_lib.set_bert_size(c, v['size'])
  c.model.vocab_size = v['vocab']
  c.data.vocab_size = v['vocab']
  c.data.seq_len = v['seq_len']
  if v['size'] in ('base', 'large'):  # on CPU: -12% peak memory at equal speed (base, measured)
    c.train.cpu_schedule = 'memory'
  # The paper: batch 256, Adam lr 1e-4, b2 0.999, wd 0.01, 10k warmup, linear decay, 1M steps.
  c.train.batch_size = 256
  c.train.learning_rate = 1e-4
  c.train.warmup_steps = 10_000
  c.train.steps = 1_000_000
  c.train.log_every_steps = 100
  c.eval.every_steps = 10_000
  c.eval.steps = 100
  c.checkpoint.every_steps = 10_000
  c.lock()
  return c
