"""ERNIE-Gram (Xiao et al. 2021): explicitly n-gram masked LM with coarse (n-gram identity) and
fine (token) prediction, on a BERT encoder (fine-tuning and export keep only BERT).

  # 1. the lexicon, with the run's vocabulary (T-test n-grams of 2..3 tokens)
  python tools/build_ngram_lexicon.py --config=configs/wiki.py --workdir=/tmp/scratch \
      --config.data.train_files='/data/enwiki/*/wiki_*' \
      --config.data.vocab_path=/tmp/wiki/wordpiece/vocab.txt --out=/tmp/wiki/lexicon.npz
  # 2. train
  python -m mlm_jax.main --config=configs/ernie_gram.py:size=mini --workdir=/tmp/ernie_gram \
      --config.data.train_files='/data/enwiki/*/wiki_*' \
      --config.data.vocab_path=/tmp/wiki/wordpiece/vocab.txt \
      --config.objective.ngram_lexicon=/tmp/wiki/lexicon.npz
Data, loop and sizes are configs/wiki.py's.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import wiki  # noqa: E402  (config files are loaded by path)


def get_config(arg: str | None = None):
  c = wiki.get_config(arg)
  c.unlock()
  c.model.name = 'ernie_gram'
  c.model.ngram_vocab_size = 10_000  # tools/build_ngram_lexicon.py --size default
  c.model.ngram_max_len = 3
  c.objective.name = 'ernie_gram'
  c.objective.whole_word = False  # units are lexicon n-grams and single tokens
  c.objective.mask_rate = 0.15
  c.lock()
  return c
