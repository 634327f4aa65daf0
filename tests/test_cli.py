"""Bad input on the command line: one line naming the key, file or value, a non-zero exit, and
nothing written — run in-process through mlm_jax.main.cli (the same parser and checks)."""
import os
import subprocess
import sys

import pytest

from mlm_jax import main
from tests.conftest import REPO


def _cli(capsys, *args):
  with pytest.raises(SystemExit) as exit_info:
    main.cli(list(args))
  err = capsys.readouterr().err
  lines = [line for line in err.splitlines() if line.strip()]
  return exit_info.value.code, lines


def _one_error_line(lines, needle):
  errors = [line for line in lines if line.startswith('error:')]
  assert len(errors) == 1, lines
  assert needle in errors[0], errors[0]
  assert not any('Traceback' in line for line in lines), lines


DEMO = '--config=configs/demo.py'
FAST = '--config.train.peak_flops=1e11'  # no matmul measurement


@pytest.mark.parametrize('args,needle', [
    ([DEMO, '--config.train.stepz=3'], 'stepz'),  # unknown key
    ([DEMO, '--config.train.steps=abc'], 'train.steps'),  # wrong type
    ([DEMO, '--config.train.steps=0'], 'train.steps'),
    ([DEMO, '--config.train.steps=-5'], 'train.steps'),
    ([DEMO, '--config.eval.every_steps=-1'], 'eval.every_steps'),
    ([DEMO, '--config.checkpoint.every_steps=-10'], 'checkpoint.every_steps'),
    ([DEMO, '--config.checkpoint.every_steps=0'], 'checkpoint.every_steps'),
    (['--config=configs/no_such_config.py'], 'no_such_config.py'),  # missing config file
    ([DEMO, '--config.train.learning_rate=-1'], 'train.learning_rate'),
    ([DEMO, '--config.objective.mask_rate=1.5'], 'objective.mask_rate'),
    ([DEMO, '--config.data.seq_len=9000'], 'data.seq_len'),
    ([DEMO, '--config.train.batch_size=30', '--config.train.micro_batches=4'],
     'train.micro_batches'),
    ([DEMO, '--config.train.batch_size=12'], 'data-parallel'),
    ([DEMO, '--config.data.task=files', '--config.data.train_files=/nonexistent/c.txt',
      '--config.data.validation_files=/nonexistent/c.txt'], '/nonexistent/c.txt'),
])
def test_bad_config_is_one_line_and_writes_nothing(capsys, tmp_path, args, needle):
  workdir = tmp_path / 'wd'
  code, lines = _cli(capsys, *args, f'--workdir={workdir}')
  assert code != 0
  _one_error_line(lines, needle)
  assert not workdir.exists()


def test_workdir_that_is_a_file(capsys, tmp_path):
  path = tmp_path / 'notes.txt'
  path.write_text('keep me')
  code, lines = _cli(capsys, DEMO, FAST, f'--workdir={path}')
  assert code != 0
  _one_error_line(lines, str(path))
  assert path.read_text() == 'keep me'


def test_workdir_under_a_file(capsys, tmp_path):
  path = tmp_path / 'notes.txt'
  path.write_text('keep me')
  code, lines = _cli(capsys, DEMO, FAST, f'--workdir={path}/run')
  assert code != 0
  _one_error_line(lines, str(path))
  assert path.read_text() == 'keep me'


def test_unwritable_workdir(capsys):
  # /sys refuses new entries even to root (the CI user), unlike a chmod-ed directory.
  workdir = '/sys/mlm_jax_test_workdir'
  code, lines = _cli(capsys, DEMO, FAST, f'--workdir={workdir}')
  assert code != 0
  _one_error_line(lines, 'not writable')
  assert not os.path.exists(workdir)


def test_vocabulary_the_corpus_cannot_support(capsys, tmp_path):
  """The built-in corpus supports ~12k SentencePiece pieces: 30000 stops in one line, and the
  corpus copy and partial files the run had started to write are gone."""
  workdir = tmp_path / 'wd'
  code, lines = _cli(capsys, DEMO, FAST, '--config.data.vocab_size=30000',
                     '--config.model.vocab_size=30000', f'--workdir={workdir}')
  assert code != 0
  _one_error_line(lines, 'data.vocab_size=30000')
  assert not workdir.exists()


def test_existing_workdir_keeps_its_files_after_a_failed_start(capsys, tmp_path):
  workdir = tmp_path / 'wd'
  workdir.mkdir()
  (workdir / 'mine.txt').write_text('x')
  code, _ = _cli(capsys, DEMO, FAST, '--config.data.vocab_size=30000',
                 '--config.model.vocab_size=30000', f'--workdir={workdir}')
  assert code != 0
  assert sorted(os.listdir(workdir)) == ['mine.txt']


def test_the_real_command_line_exits_nonzero_with_one_line(tmp_path):
  """One subprocess: what a user's shell sees (absl's app.run around the same code)."""
  workdir = tmp_path / 'wd'
  result = subprocess.run([sys.executable, '-m', 'mlm_jax.main', DEMO, f'--workdir={workdir}',
                           '--config.objective.mask_rate=1.5'], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode != 0
  lines = result.stderr.splitlines()  # no TensorFlow/CUDA start-up lines before it either
  assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr[-2000:]
  assert 'objective.mask_rate=1.5' in lines[0]
  assert not workdir.exists()
