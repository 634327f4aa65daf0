"""Continued pre-training on a new domain with the stability-gap recipes (Guo et al. 2024,
"Efficient Continual Pre-training by Mitigating the Stability Gap", §4): when training moves
to a new domain, held-out performance first drops and then recovers; three data strategies
shorten the dip within a fixed budget. Each is a preset over the document filters
(mlm_jax/data/filters.py) and mixtures, with dense early evaluation on a general-domain
held-out set so the dip shows in the metrics (`general/mlm_accuracy` beside the domain's).

  python -m mlm_jax.main --config=configs/stability_gap.py:recipe=subset_epochs \
      --workdir=/tmp/cpt --config.init_from.workdir=PRE \
      --config.data.train_files='/data/domain/*.txt' --config.data.format=blocks \
      --config.eval.extra_sets='general=wikiextractor:/data/enwiki/*/wiki_*'

recipe=full           one pass over the whole domain corpus: the baseline that shows the gap
recipe=subset_epochs  strategy 1: a fixed 10% of the domain documents (data.filter.
                      subset_fraction; the paper's 5B of 50B tokens, chosen at random), trained
                      for as many epochs as train.steps gives (the paper peaks at 4)
recipe=high_quality   strategy 2: only the domain documents a quality model scores highest
                      (data.filter.quality_model, required; set data.filter.quality_threshold
                      to keep ~10%, from tools/data_filters.py's quantiles). The paper ranks by
                      the perplexity of a KenLM trained on a reference corpus; here the score
                      is a classifier of reference-like text (our substitute)
recipe=mixture        strategy 3: the domain mixed with general data in the proportions of the
                      original pre-training (data.mixture, required), e.g.
                      'jsonl:/data/domain/*.jsonl@0.82; wikiextractor:/data/wiki/*/wiki_*@0.18'
                      (the paper replaces Llama's 82% web share with domain text)

The architecture, vocabulary and weights come from init_from.workdir (fresh optimizer); the
schedule is the paper's (AdamW, 10% warmup, cosine); its peak rate (3e-4 for 1.1B, 3e-5 for
3B+) is a model-size choice: 1e-4 here for BERT-sized encoders (our choice).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib  # noqa: E402

RECIPES = ('full', 'subset_epochs', 'high_quality', 'mixture')
REQUIRED = '<required: see configs/stability_gap.py>'


def get_config(arg: str | None = None):
  v = config_lib.parse_variant(arg, {'recipe': 'subset_epochs', 'seq_len': 128})
  if v['recipe'] not in RECIPES:
    raise config_lib.ConfigError(f'configs/stability_gap.py: recipe={v["recipe"]!r} must be '
                                 f'one of {"|".join(RECIPES)}')
  c = base.get_base_config()
  c.init_from.workdir = REQUIRED
  c.data.task = 'files'
  c.data.format = 'jsonl'
  c.data.min_doc_words = 20
  c.data.seq_len = v['seq_len']
  c.objective.whole_word = True
  c.train.steps = 2_000
  c.train.batch_size = 64
  c.train.learning_rate = 1e-4
  c.train.warmup_steps = 200  # 10% of the steps
  c.train.decay = 'cosine'
  c.train.adam_b2 = 0.95
  c.eval.every_steps = 200
  c.eval.early_every_steps = 20  # the dip lasts the first few percent of the budget
  c.eval.early_until_step = 200
  c.eval.steps = 20
  if v['recipe'] == 'subset_epochs':
    c.data.filter.subset_fraction = 0.1
  elif v['recipe'] == 'high_quality':
    c.data.filter.quality_model = REQUIRED
    c.data.filter.quality_threshold = 0.5
  elif v['recipe'] == 'mixture':
    c.data.task = 'mixture'
    c.data.mixture = REQUIRED
  return c
