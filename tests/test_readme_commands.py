"""Every `python -m mlm_jax.main` command in README.md and in the config docstrings runs as
written through its validation path (`--dry_run`: config, workdir, vocabulary, one batch),
with placeholder paths swapped for real local files. A command asking for something the data
cannot give (the BERT example's 30,522-piece vocabulary on the built-in corpus) fails here."""
import glob
import os
import re
import shlex

import pytest

from mlm_jax import main
from mlm_jax.data import vocab_builder
from tests.conftest import REPO, SHARED_DATA

pytestmark = pytest.mark.slow

MAIN = 'python -m mlm_jax.main'


def _commands(text: str) -> list[tuple[str, str]]:
  """(command, the `error:` line shown right after it, if any) for each command in TEXT."""
  lines = text.splitlines()
  out = []
  for i, line in enumerate(lines):
    if MAIN not in line:
      continue
    command = line[line.index(MAIN):]
    j = i
    while command.rstrip().endswith('\\'):
      j += 1
      command = command.rstrip()[:-1] + ' ' + lines[j].strip()
    expected = lines[j + 1].strip() if j + 1 < len(lines) else ''
    out.append((command.strip(), expected if expected.startswith('error:') else ''))
  return out


def _documented_commands() -> list[tuple[str, str, str]]:
  sources = [os.path.join(REPO, 'README.md')] + sorted(glob.glob(os.path.join(REPO, 'configs',
                                                                              '*.py')))
  found = []
  for path in sources:
    with open(path, encoding='utf-8') as f:
      for command, expected in _commands(f.read()):
        found.append((os.path.relpath(path, REPO), command, expected))
  return found


COMMANDS = _documented_commands()


@pytest.fixture(scope='module')
def wordpiece_vocab(tmp_path_factory):
  """What configs/wiki.py's step 1 (tools/build_vocab.py --type=wordpiece) would build."""
  texts = []
  for path in sorted(glob.glob(os.path.join(SHARED_DATA, 'pretrain', 'enwiki_wikitasks',
                                            'wiki_0[0-1].gz'))):
    import gzip  # pylint: disable=g-import-not-at-top
    with gzip.open(path, 'rt', encoding='utf-8') as f:
      texts += [line for line in f if not line.startswith(('<doc', '</doc'))]
  out = vocab_builder.train_wordpiece(texts, str(tmp_path_factory.mktemp('wordpiece')), 2000)
  return os.path.join(out, 'vocab.txt')


def _localise(command: str, workdir: str, replacements: dict[str, str]) -> list[str]:
  args = shlex.split(command)[3:]  # drop `python -m mlm_jax.main`
  out = []
  for arg in args:
    if arg.startswith('--workdir='):
      arg = f'--workdir={workdir}'
    for placeholder, real in replacements.items():
      arg = arg.replace(placeholder, real)
    out.append(arg)
  return out


def test_commands_were_found():
  files = {f for f, _, _ in COMMANDS}
  assert 'README.md' in files and 'configs/bert.py' in files and len(COMMANDS) >= 8, COMMANDS


@pytest.mark.parametrize('where,command,expected', COMMANDS,
                         ids=[f'{w}:{c.split()[3][9:]}' for w, c, _ in COMMANDS])
def test_documented_command_runs_as_written(where, command, expected, tmp_path, capsys,
                                            shared_vocab, minilm_dir, wordpiece_vocab):
  del where
  wiki = os.path.join(SHARED_DATA, 'pretrain', 'enwiki_wikitasks', 'wiki_0*.gz')
  if '/data/enwiki' in command and not glob.glob(wiki):
    pytest.skip('shared Wikipedia extracts are not available')
  replacements = {
      '/path/to/bert-base-uncased': minilm_dir,
      'corpus/*.txt': shared_vocab['train'], 'corpus/valid.txt': shared_vocab['validation'],
      '/data/enwiki/*/wiki_*': wiki, '/tmp/wiki/wordpiece/vocab.txt': wordpiece_vocab,
      '/tmp/wiki/wp/vocab.txt': wordpiece_vocab,
  }
  workdir = str(tmp_path / 'wd')
  args = _localise(command, workdir, replacements)
  if expected:  # a documented error: exactly that line, nothing written
    with pytest.raises(SystemExit) as exit_info:
      main.cli(args)
    assert exit_info.value.code != 0
    assert expected in capsys.readouterr().err.splitlines()
  else:
    try:
      main.cli(args + ['--dry_run'])
    except SystemExit as e:
      pytest.fail(f'{command!r} failed: {capsys.readouterr().err.strip()[-500:]} (exit {e.code})')
    assert 'dry run: config, workdir, vocabulary and data are usable' in capsys.readouterr().out
  assert not os.path.exists(workdir)


def test_the_old_bert_example_now_stops_in_one_line(tmp_path, capsys):
  """The example the README used to show: a 30,522-piece vocabulary on the built-in corpus."""
  workdir = tmp_path / 'wd'
  with pytest.raises(SystemExit):
    main.cli(['--config=configs/bert.py:size=mini,seq_len=128', f'--workdir={workdir}',
              '--dry_run'])
  errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith('error:')]
  assert len(errors) == 1 and re.search(r'data\.vocab_size=30522: .*at most \d+', errors[0]), errors
  assert not workdir.exists()
