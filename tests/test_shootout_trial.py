"""tools/shootout_trial.py: one shoot-out run with overrides, stopped early, and its learning
curve beside the baselines its objective logs."""
import os

import pytest

from mlm_jax import config_lib, objectives
from mlm_jax.config_lib import ConfigError
from tools import shootout
from tools import shootout_trial as trial


def _opt(tmp_path, **kw):
  return shootout.Options(str(tmp_path / 'trial'), objectives=('electra',), tiny=True,
                          budget_steps=8, **kw)


def test_the_trial_is_the_shootout_run_with_overrides_and_an_early_stop(tmp_path):
  opt = _opt(tmp_path)
  c = trial.trial_config(opt, 'electra', ['train.learning_rate=3e-4',
                                          'model.generator_size_fraction=0.125'], 4)
  per_token = {o: objectives.flops_per_token(shootout.run_config(o, opt, 1, ''))
               for o in ('mlm', 'electra')}
  steps = shootout.equal_compute_steps(8, per_token, 'mlm')['electra']
  real = shootout.run_config('electra', opt, steps, '')
  assert c.train.steps == real.train.steps == steps and steps < 8  # ELECTRA's dearer steps
  assert c.train.warmup_steps == real.train.warmup_steps  # the full run's schedule
  assert c.train.stop_at_step == 4
  assert c.train.learning_rate == 3e-4 and c.model.generator_size_fraction == 0.125
  different = {k for k, v in config_lib.flat_keys(c.to_dict()).items()
               if config_lib.flat_keys(real.to_dict())[k] != v}
  assert different == {'train.learning_rate', 'model.generator_size_fraction',
                       'train.stop_at_step'}, different


@pytest.mark.parametrize('label,sets,stop,message', [
    ('nope', [], 4, "--label='nope': not one of mlm, "),
    ('electra', ['model.nope=3'], 4, '--set: unknown config key model.nope'),
    ('electra', ['train.learning_rate'], 4, "--set 'train.learning_rate' is not KEY=VALUE"),
    ('electra', ['train.learning_rate=fast'], 4,
     "--set train.learning_rate='fast': not of the key's type, float"),
    ('electra', [], 50, "--stop_at_step=50: between 0 and the run's"),
])
def test_bad_options_are_one_line_errors_before_anything_is_written(tmp_path, label, sets, stop,
                                                                     message):
  opt = _opt(tmp_path)
  with pytest.raises(ConfigError) as e:
    trial.run(opt, label, sets, stop)
  assert str(e.value).startswith(message) and '\n' not in str(e.value), e.value
  assert not os.path.exists(opt.workdir)


def test_a_real_corpus_needs_its_files_and_vocabulary(tmp_path):
  opt = shootout.Options(str(tmp_path / 'trial'), objectives=('electra',))
  with pytest.raises(ConfigError, match='--train_files and --vocab_path are required'):
    trial.trial_config(opt, 'electra', [], 4)


def test_the_curve_table_puts_each_metric_beside_its_baseline():
  records = [
      {'step': 50, 'split': 'train', 'loss': 38.6, 'disc_accuracy': 0.822,
       'baseline_disc_accuracy': 0.852, 'disc_loss': 0.5968, 'baseline_disc_loss': 0.4193,
       'disc_recall': 0.039, 'disc_precision': 0.141, 'mlm_accuracy': 0.018, 'mfu': 0.2},
      {'step': 100, 'split': 'train', 'loss': 27.9, 'disc_accuracy': 0.852,
       'baseline_disc_accuracy': 0.852, 'disc_loss': 0.4042, 'baseline_disc_loss': 0.4192,
       'disc_recall': 0.003, 'disc_precision': 0.721, 'mlm_accuracy': 0.04, 'mfu': 0.2},
  ]
  lines = trial.curve_table(records, 'disc_accuracy').splitlines()
  assert lines[0] == ('| step | split | loss | disc_accuracy | disc_loss | disc_precision | '
                      'disc_recall |')
  assert lines[2] == ('| 50 | train | 38.6000 | 0.8220 (0.8520) | 0.5968 (0.4193) | 0.1410 | '
                      '0.0390 |')
  assert lines[3].startswith('| 100 | train | 27.9000 | 0.8520 (0.8520) | 0.4042 (0.4192) |')
  assert 'brackets: the baseline' in lines[-1]


@pytest.mark.slow
def test_a_tiny_trial_trains_to_its_stop_and_again_trains_nothing(tmp_path, capsys):
  opt = _opt(tmp_path)
  table = trial.run(opt, 'electra', ['train.learning_rate=3e-4'], 4)
  rows = [line for line in table.splitlines() if line.startswith('| 4 | train |')]
  assert len(rows) == 1 and '(' in rows[0], table  # the detector's loss beside its baseline
  assert 'disc_loss' in table.splitlines()[0]
  saved = config_lib.load_run_config(opt.workdir)
  assert saved.train.learning_rate == 3e-4 and saved.train.stop_at_step == 4
  assert 'stopped: step 4 of' in capsys.readouterr().out
  # The same command again (a resumed trial that has reached its stop) trains nothing.
  assert trial.run(opt, 'electra', ['train.learning_rate=3e-4'], 4) == table
  assert 'stopped: step 4 of' in capsys.readouterr().out
