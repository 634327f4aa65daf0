"""BERT on Wikipedia extracts (WikiExtractor `<doc>` files, as BERT's own data path), with a
WordPiece vocabulary built by tools/build_vocab.py.

  # 1. a vocabulary from the same extracts (BERT-style uncased WordPiece)
  python tools/build_vocab.py --config=configs/wiki.py --workdir=/tmp/wiki \
      --config.data.train_files='/data/enwiki/*/wiki_*' --type=wordpiece --size=8000 \
      --out=/tmp/wiki/wordpiece
  # 2. train
  python -m mlm_jax.main --config=configs/wiki.py:size=mini --workdir=/tmp/wiki \
      --config.data.train_files='/data/enwiki/*/wiki_*' \
      --config.data.vocab_path=/tmp/wiki/wordpiece/vocab.txt

Stubs (redirects, empty pages) under 20 words are skipped; 1 in 100 documents (by text hash)
is held out for evaluation unless data.validation_files is set.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib  # noqa: E402


def get_config(arg: str | None = None):
  # positions: learned (BERT's table) | rotary (learns faster at small budgets: README, "Demo
  # recipe"; not exportable to BertForMaskedLM) | alibi | none
  v = config_lib.parse_variant(arg, {'size': 'mini', 'seq_len': 128, 'positions': 'learned'})
  c = base.get_base_config()
  config_lib.set_bert_size(c, v['size'])
  c.model.vocab_size = 8000
  c.model.max_positions = max(128, v['seq_len'])
  c.model.position_scheme = v['positions']
  c.data.task = 'files'
  c.data.format = 'wikiextractor'
  c.data.min_doc_words = 20
  c.data.holdout_every = 100
  c.data.vocab_size = 8000
  c.data.seq_len = v['seq_len']
  c.objective.whole_word = True
  c.train.steps = 10_000
  c.train.batch_size = 64
  c.train.learning_rate = 5e-4
  c.train.warmup_steps = 500
  c.train.weight_decay = 0.01
  c.train.log_every_steps = 50
  c.eval.every_steps = 1000
  c.eval.steps = 20
  c.checkpoint.every_steps = 1000
  c.lock()
  return c
