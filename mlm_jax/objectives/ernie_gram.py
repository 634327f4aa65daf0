"""ERNIE-Gram: explicitly n-gram masked language modelling with comprehensive n-gram
prediction (Xiao et al., NAACL 2021), on the ernie_gram model family (models/ernie_gram.py).

Masking and targets: objectives/ngram_masking.py. Loss (the paper's Eq. 3, a plain sum): the
coarse-grained cross-entropy of each masked unit's identity over <V_F, V_N> plus the
fine-grained cross-entropy of every masked token from its query. Reading of ours: each term is
a mean over its targets (the paper writes sums). The lexicon (objective.ngram_lexicon) comes
from tools/build_ngram_lexicon.py with the run's vocabulary. The paper's optional generator
("enhanced n-gram relation modelling": sampled n-gram replacements plus replaced-token
detection) is not built.
Reported: mlm_loss/mlm_accuracy (fine, per masked token: comparable with MLM's) and
ngram_loss/ngram_accuracy (coarse, per masked unit).
"""
from typing import Any, Callable

import jax

from mlm_jax import ngrams
from mlm_jax.config_lib import ConfigError, require
from mlm_jax.objectives import masking, mlm, ngram_masking
from mlm_jax.objectives.objective import NGRAM_MLM, LossOutput, Objective


def check_lexicon(lex: ngrams.Lexicon, model_cfg, tokens) -> None:
  """The lexicon fits the vocabulary and the model (one-line errors, before compiling)."""
  where = 'objective.ngram_lexicon'
  if lex.vocab_size != tokens.vocab_size:
    raise ConfigError(f'{where} was built for a {lex.vocab_size}-token vocabulary; this run\'s '
                      f'has {tokens.vocab_size}: rebuild it with tools/build_ngram_lexicon.py')
  if lex.size > model_cfg.ngram_vocab_size:
    raise ConfigError(f'{where} has {lex.size} n-grams, more than model.ngram_vocab_size='
                      f'{model_cfg.ngram_vocab_size}')
  if lex.max_len > model_cfg.ngram_max_len:
    raise ConfigError(f'{where} holds {lex.max_len}-grams, longer than model.ngram_max_len='
                      f'{model_cfg.ngram_max_len}')


def make_loss(model, objective_cfg, tokens, word_start_V=None) -> Callable[..., Any]:
  o = objective_cfg
  lex = ngrams.load(o.ngram_lexicon)
  check_lexicon(lex, model.cfg, tokens)
  device_lex = ngram_masking.device_lexicon(lex)

  def loss_fn(params, batch, rng, train: bool = True) -> LossOutput:
    mask_rng, dropout_rng = jax.random.split(rng)
    ids_BL = batch['input_ids']
    m = ngram_masking.mask_ngrams(mask_rng, ids_BL, batch['segment_ids'], batch['positions'],
                                  tokens, device_lex, o.mask_rate,
                                  masking.slots(o, ids_BL.shape[1]), model.cfg.vocab_size,
                                  word_start_V)
    _, fine_BQV, coarse_BCX = model.apply(
        {'params': params}, m['input_ids'], m['segment_ids'], m['positions'], m['query_ids'],
        m['query_positions'], m['query_segments'], m['coarse_positions'],
        deterministic=not train, rngs={'dropout': dropout_rng})
    fine_loss, metrics = mlm.mlm_metrics(fine_BQV, m['fine_ids'], m['fine_weights'])
    coarse_loss, coarse = mlm.mlm_metrics(coarse_BCX, m['coarse_ids'], m['coarse_weights'])
    metrics['ngram_loss'], metrics['ngram_accuracy'] = coarse['mlm_loss'], coarse['mlm_accuracy']
    counts = None if train else mlm.label_counts(m['fine_ids'], m['fine_weights'],
                                                 fine_BQV.shape[-1])
    return LossOutput(coarse_loss + fine_loss, metrics, counts)

  return loss_fn


def validate(objective_cfg) -> None:
  o = objective_cfg
  if not o.ngram_lexicon:
    raise ConfigError('objective.ngram_lexicon is empty: ernie_gram masks n-grams of a lexicon '
                      '(tools/build_ngram_lexicon.py writes one)')
  ngrams.load(o.ngram_lexicon)
  require(o.masking == 'tokens' and not o.whole_word,
          f'objective.masking={o.masking!r}, objective.whole_word={o.whole_word}: ernie_gram '
          'chooses its own units (lexicon n-grams and single tokens)')


def flops_per_token(model_cfg, objective_cfg, seq_len: int, passes: dict) -> float:
  """One trained pass over the row plus its queries (one per slot), the fine head at every
  query and the coarse head at as many slots."""
  del model_cfg
  slots = masking.slots(objective_cfg, seq_len)
  per_slot = passes['mlm_head_per_prediction'] + passes['ngram_head_per_prediction']
  return 3 * (passes['encoder'] * (seq_len + slots) / seq_len + per_slot * slots / seq_len)


OBJECTIVE = Objective(make_loss=make_loss, needs=NGRAM_MLM, headline=lambda o: 'mlm_accuracy',
                      flops_per_token=flops_per_token, validate=validate,
                      perplexity_of='mlm_loss', attention=('bidirectional',),
                      uses_word_starts=True)
