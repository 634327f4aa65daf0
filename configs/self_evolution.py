"""Self-evolution learning (Zhong et al. 2023): continued MLM pre-training that masks the tokens
the model itself finds hard and trains on rectified smooth labels
(mlm_jax/objectives/self_evolution.py). Continue a finished MLM run:

  python -m mlm_jax.main --config=configs/self_evolution.py --workdir=/tmp/se \
      --config.init_from.workdir=PRE --config.data.train_files='/data/enwiki/*/wiki_*'
The architecture and vocabulary come from init_from.workdir; data and loop are configs/wiki.py's
at the authors' small learning rate.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import wiki  # noqa: E402  (config files are loaded by path)


def get_config(arg: str | None = None):
  c = wiki.get_config(arg)
  c.unlock()
  c.objective.name = 'self_evolution'
  c.objective.whole_word = False
  c.objective.se_threshold = 0.1
  c.objective.se_smoothing = 0.1
  c.train.learning_rate = 1e-5  # the authors' continued-training rate (RoBERTa-base)
  c.train.warmup_steps = 100
  c.lock()
  return c
