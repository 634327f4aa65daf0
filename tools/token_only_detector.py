"""Has a replaced-token discriminator learned context, or only which tokens get replaced?

python tools/token_only_detector.py --workdir=RUN [--step=N] [--batches=40]

For a run whose model has a generator and a discriminator (ELECTRA with tied or GDES embeddings;
another such objective, MCL, is measured with ELECTRA's corruption, its RTD course), on its own
training data and masking: the generator's samples replace the masked tokens as in training, and
three detectors are scored on the same tokens — the best constant answer, the best detector that
sees only the token itself (each token id's replaced rate, fitted on the first half of the
batches and scored on the second, shrunk toward the overall rate), and the run's discriminator.
The same masked positions filled with uniform draws from the vocabulary (RTS's substitutes) are
scored too. Prints one JSON line; each loss is the mean BCE per real token.

When the generator's samples are spread over the vocabulary like the corpus's own tokens, a
token's identity says nothing about whether it was replaced (token_only_over_constant near 1):
the discriminator can beat the constant only by reading the context. A discriminator whose loss
is no lower than the token-only detector's has learned nothing from context.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from mlm_jax import checkpointing, config_lib, models, objectives  # noqa: E402
from mlm_jax.config_lib import ConfigError  # noqa: E402
from mlm_jax.data import pipeline  # noqa: E402
from mlm_jax.objectives import electra, mlm  # noqa: E402
from mlm_jax.objectives.objective import GENERATOR_DISCRIMINATOR  # noqa: E402

SHRINK = 20.0  # pseudo-tokens at the overall rate added to each token id's count


def define_flags() -> None:
  """Defined when run as a command only, so tests can import this module beside others."""
  flags.DEFINE_string('workdir', None, 'A training run with a generator and a discriminator.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_integer('batches', 40, 'Training batches read (half fit, half scored); >= 2.')
  flags.DEFINE_integer('batch_size', 128, 'Rows per batch.')
  flags.DEFINE_integer('seed', 0, 'Data order, masking and sampling seed.')


def bce(p, labels) -> float:
  """Mean binary cross-entropy of probabilities P against 0/1 LABELS (nats)."""
  p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
  y = np.asarray(labels, np.float64)
  return float(-(y * np.log(p) + (1 - y) * np.log1p(-p)).mean())


def token_only_scores(fit_ids, fit_labels, eval_ids, eval_labels, vocab_size: int) -> dict:
  """Constant and token-only detectors fitted on FIT_* and scored on EVAL_*: the token-only
  detector answers each id's replaced rate in the fit set, shrunk toward the overall rate by
  SHRINK pseudo-tokens (an id unseen in the fit set gets the overall rate)."""
  fit_labels = np.asarray(fit_labels, np.float64)
  rate = float(fit_labels.mean())
  seen = np.bincount(fit_ids, minlength=vocab_size)
  replaced = np.bincount(fit_ids, weights=fit_labels, minlength=vocab_size)
  p_V = (replaced + SHRINK * rate) / (seen + SHRINK)
  constant = bce(np.full(len(eval_labels), rate), eval_labels)
  token_only = bce(p_V[eval_ids], eval_labels)
  return {'replaced_fraction': float(np.mean(eval_labels)), 'constant_loss': constant,
          'token_only_loss': token_only, 'token_only_over_constant': token_only / constant}


def _cat(rows, i: int):
  return np.concatenate([r[i] for r in rows])


def _split(rows):
  """((ids, labels) of the first half of ROWS, the fit set; the second half, scored)."""
  half = len(rows) // 2
  return (_cat(rows[:half], 0), _cat(rows[:half], 1)), rows[half:]


def measure(workdir: str, step=None, batches: int = 40, batch_size: int = 128,
            seed: int = 0) -> dict:
  """The JSON record the command prints (see the module docstring)."""
  if batches < 2:
    raise ConfigError(f'--batches={batches}: at least 2 (half fit, half scored)')
  config = config_lib.load_run_config(workdir)
  objective = objectives.objective(config.objective)
  if objective.needs != GENERATOR_DISCRIMINATOR:
    raise ConfigError(f'{workdir}: objective.name={config.objective.name!r} trains no generator '
                      'and discriminator')
  params, step = checkpointing.restore_params(config, workdir, step)
  source = pipeline.build_source(config.data, workdir)
  model = models.build(config.model)
  tokens = source.tokens
  spec = mlm.masking_spec(config.objective)
  word_start = objectives.word_starts(config.objective, source.word_start)  # as train.py
  allowed_V = electra.sampling_mask(tokens, model.cfg.vocab_size)

  @jax.jit
  def corrupt(params, batch, rng):
    _, _, _, mid = electra.replaced_token_detection(model, params, batch, rng, False, tokens,
                                                    spec, word_start, allowed_V)
    m = mid['mask']
    uniform_BP = jax.random.choice(jax.random.fold_in(rng, 1), model.cfg.vocab_size,
                                   m['masked_positions'].shape, p=allowed_V / allowed_V.sum())
    uniform_BL = electra.substitute(batch['input_ids'], m['masked_positions'], uniform_BP,
                                    m['masked_weights'])
    return mid['corrupted'], mid['disc_logits'], uniform_BL

  ds = pipeline.make_dataset(source, 'train', config.data.seq_len, batch_size, train=True,
                             seed=seed)
  keys = pipeline.batch_keys(source)
  generated, uniform = [], []
  for i, batch in zip(range(batches), ds.as_numpy_iterator()):
    batch = {k: v for k, v in batch.items() if k in keys}
    gen_BL, logits_BL, uni_BL = jax.device_get(corrupt(params, batch, jax.random.key(seed + i)))
    real_BL = batch['segment_ids'] != 0
    for rows, corrupted, logits in ((generated, gen_BL, logits_BL[real_BL]),
                                    (uniform, uni_BL, None)):  # the discriminator saw gen_BL
      rows.append((corrupted[real_BL], (corrupted != batch['input_ids'])[real_BL], logits))
  if len(generated) < 2:
    raise ConfigError(f'{workdir}: its training data gave {len(generated)} batch(es) of '
                      f'{batch_size}; need 2')
  out = {'workdir': workdir, 'step': int(step), 'batches': len(generated)}
  for name, rows in (('generator', generated), ('uniform', uniform)):
    (fit_ids, fit_labels), scored = _split(rows)
    ids, labels = _cat(scored, 0), _cat(scored, 1)
    out[name] = token_only_scores(fit_ids, fit_labels, ids, labels, model.cfg.vocab_size)
    if name == 'generator':  # the run's discriminator, on the tokens the detectors are scored on
      out[name]['discriminator_loss'] = float(optax.sigmoid_binary_cross_entropy(
          _cat(scored, 2), labels.astype(np.float32)).mean())  # as training scores it
      out[name]['discriminator_over_constant'] = (out[name]['discriminator_loss']
                                                  / out[name]['constant_loss'])
      out['tokens_scored'] = int(len(labels))
  return out


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  try:
    print(json.dumps(measure(f.workdir, f.step, f.batches, f.batch_size, f.seed)), flush=True)
  except ConfigError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  define_flags()
  flags.mark_flag_as_required('workdir')
  app.run(main)
