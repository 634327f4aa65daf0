"""Position prediction pre-training (MP3, Zhai et al. 2022) for text: BERT's encoder without
position embeddings; half the tokens are hidden as attention keys and every token classifies its
position. Fine-tune with finetune.add_position_embeddings=true (MP3 adds them back).

  python -m mlm_jax.main --config=configs/position.py:size=mini --workdir=/tmp/position \
      --config.data.train_files='/data/enwiki/*/wiki_*' \
      --config.data.vocab_path=/tmp/wiki/wordpiece/vocab.txt
Data, loop and sizes are configs/wiki.py's.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import wiki  # noqa: E402  (config files are loaded by path)


def get_config(arg: str | None = None):
  c = wiki.get_config(arg)
  c.unlock()
  c.model.name = 'position_predictor'
  c.model.position_scheme = 'none'
  c.objective.name = 'position_prediction'
  c.objective.mask_rate = 0.5  # MP3's masking ratio: tokens hidden as attention keys
  c.objective.whole_word = False
  c.lock()
  return c
