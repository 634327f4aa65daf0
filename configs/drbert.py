"""BERT with a pre-training-only MLM decoder (DrBERT / BPDec, Liang & Liang 2024): 2 extra
blocks with Gradual Unmasking Attention and encoder-output mixing before the MLM head; they are
dropped for fine-tuning and export (mlm_jax/models/mlm_decoder.py says which details are ours).

  python -m mlm_jax.main --config=configs/drbert.py:size=mini --workdir=/tmp/drbert \
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
  c.model.mlm_decoder_layers = 2
  c.model.mlm_decoder_unmask_fraction = 0.5
  c.model.mlm_decoder_encoder_mix = 0.1
  c.lock()
  return c
