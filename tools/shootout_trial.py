"""Trains one shoot-out run with overrides, stopped early, and prints its learning curve beside
its baselines: the quick look at why a row loses before a whole run is spent on a change.

python tools/shootout_trial.py --label=electra --workdir=/tmp/trial/lr3e-4 \
    --train_files='/data/enwiki/*/wiki_*' --vocab_path=/tmp/wiki/wordpiece/vocab.txt \
    --set=train.learning_rate=3e-4 [--set=model.generator_size_fraction=0.125] \
    [--stop_at_step=400] [--reference=configs/wiki.py:size=tiny,positions=rotary]

The run is tools/shootout.py's LABEL run (the reference's encoder, data and loop, its
equal-compute step count, warmup and decay) with each --set applied last, stopped at
--stop_at_step with the full run's schedule kept (train.stop_at_step), so its first steps are
the real row's. The table gives every logged step's loss, the objective's headline metric, and
each metric the objective logs a baseline for beside that baseline — for a detector its loss
against the best constant answer's (baseline_<name>_loss), which shows whether it learned
anything; its accuracy against answering "original" everywhere barely moves either way.
The same WORKDIR resumes the trial; another trial needs another WORKDIR.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if __name__ == '__main__':  # CPU hosts train under mimalloc (mlm_jax/host_allocator.py)
  from mlm_jax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.maybe_reexec()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app, flags, logging  # noqa: E402

from configs import shootout as lineup  # noqa: E402
from mlm_jax import metrics, objectives  # noqa: E402
from mlm_jax.config_lib import ConfigError  # noqa: E402
from mlm_jax.finetune import suite  # noqa: E402
from tools import shootout  # noqa: E402


def define_flags() -> None:
  """Defined when run as a command only, so tests can import this module beside others."""
  flags.DEFINE_string('label', None, f'A configs/shootout.py run: {", ".join(shootout.RUNS)}.')
  flags.DEFINE_string('workdir', None, 'Directory of this trial run.')
  flags.DEFINE_string('train_files', '', 'Pre-training corpus (glob), as shootout.py.')
  flags.DEFINE_string('vocab_path', '', 'Vocabulary, as shootout.py.')
  flags.DEFINE_string('ngram_lexicon', '', 'ERNIE-Gram\'s lexicon, as shootout.py.')
  flags.DEFINE_string('cluster_map', '', 'C-RTS\'s token -> cluster map '
                      '(tools/build_cluster_map.py; shootout.py builds it from its MLM run).')
  flags.DEFINE_string('reference', '', 'The encoder, data and loop (shootout.py\'s --reference; '
                      'default configs/shootout.py REFERENCE).')
  flags.DEFINE_integer('budget_steps', lineup.BUDGET_STEPS,
                       f'Steps of the {shootout.FIRST} run, which set the FLOP budget.')
  flags.DEFINE_integer('stop_at_step', 400, 'Stop here (0: train the whole run).')
  flags.DEFINE_multi_string('set', [], 'Overrides KEY=VALUE of the run\'s config, applied last '
                            '(repeatable).')
  flags.DEFINE_bool('tiny', False, 'configs/smoke.py sizes on the built-in corpus (tests).')


def trial_config(opt: shootout.Options, label: str, sets, stop_at_step: int, cluster_map: str = ''):
  """LABEL's shoot-out config at its equal-compute steps, SETS applied, stopped at STOP_AT_STEP.
  One-line ConfigError for a wrong label, key, value or stop step."""
  if label not in shootout.RUNS:
    raise ConfigError(f'--label={label!r}: not one of {", ".join(shootout.RUNS)}')
  if not opt.workdir:
    raise ConfigError('--workdir is required')
  if not opt.tiny and not (opt.train_files and opt.vocab_path):
    raise ConfigError('--train_files and --vocab_path are required (or --tiny)')
  labels = (shootout.FIRST, label)
  per_token = {o: objectives.flops_per_token(shootout.run_config(o, opt, 1, opt.vocab_path))
               for o in labels}
  steps = shootout.equal_compute_steps(opt.budget_steps, per_token, shootout.FIRST)[label]
  config = shootout.run_config(label, opt, steps, opt.vocab_path, cluster_map)
  for assignment in sets:
    suite.set_override(config, assignment)
  if not 0 <= stop_at_step <= config.train.steps:
    raise ConfigError(f'--stop_at_step={stop_at_step}: between 0 and the run\'s '
                      f'{config.train.steps} steps')
  config.train.stop_at_step = stop_at_step
  config.train.log_every_steps = max(1, min(50, config.train.log_every_steps))
  return config


def _cell(record: dict, key: str) -> str:
  value = record.get(key)
  if value is None:
    return ''
  base = record.get(f'baseline_{key}')
  return f'{value:.4f}' if base is None else f'{value:.4f} ({base:.4f})'


def curve_table(records: list[dict], headline: str) -> str:
  """Markdown: one row per logged record; each metric with a baseline shows it in brackets."""
  keys = {k for r in records for k in r}
  columns = ['loss', headline] + sorted(
      k for k in keys if f'baseline_{k}' in keys and k not in ('loss', headline)) + sorted(
      k for k in keys if k.endswith(('_recall', '_precision')))
  columns = list(dict.fromkeys(c for c in columns if c in keys))
  lines = ['| step | split | ' + ' | '.join(columns) + ' |',
           '|---:|---|' + '---|' * len(columns)]
  for r in records:
    lines.append(f'| {r["step"]} | {r["split"]} | ' + ' | '.join(_cell(r, c) for c in columns)
                 + ' |')
  return '\n'.join(lines) + '\n\n(brackets: the baseline the objective logs beside that metric)'


def run(opt: shootout.Options, label: str, sets, stop_at_step: int, cluster_map: str = '') -> str:
  from mlm_jax import train  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  config = trial_config(opt, label, sets, stop_at_step, cluster_map)  # one-line errors first
  if opt.tiny and not opt.vocab_path:  # a SentencePiece model of the built-in corpus
    ref = shootout.reference_config(opt)
    config.data.vocab_path = pipeline.resolve_vocab(ref.data,
                                                    os.path.join(opt.workdir, 'vocab')).path
  print(f'== {label}: {config.train.steps} steps at equal compute, stopping at '
        f'{config.train.stop_at_step or config.train.steps}', flush=True)
  train.run(config, opt.workdir)
  headline = objectives.objective(config.objective).headline(config.objective)
  table = curve_table(metrics.read_records(opt.workdir), headline)
  print(table, flush=True)
  return table


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  opt = shootout.Options(f.workdir, f.train_files, f.vocab_path, '', f.ngram_lexicon, (f.label,),
                         f.budget_steps, tiny=f.tiny, reference=f.reference)
  try:
    run(opt, f.label, f.set, f.stop_at_step, f.cluster_map)
  except ConfigError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  define_flags()
  flags.mark_flag_as_required('label')
  app.run(main)
