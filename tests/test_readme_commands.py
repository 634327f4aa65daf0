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
from tests.conftest import REPO, SHARED_DATA, corpus_config, fake_run

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
  found, seen = [], set()
  for path in sources:
    with open(path, encoding='utf-8') as f:
      for command, expected in _commands(f.read()):
        key = (' '.join(command.split()), expected)
        if key in seen:  # shown twice (whitespace aside), checked once
          continue
        seen.add(key)
        found.append((os.path.relpath(path, REPO), command, expected))
  return found


COMMANDS = _documented_commands()


@pytest.fixture(scope='module')
def pretrained_workdir(tmp_path_factory, shared_vocab):
  """What a pre-training run leaves (config.json, checkpoint, recorded vocabulary)."""
  from mlm_jax import models  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import vocab, workdir_vocab  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp('pretrained'))
  # 4,000 pieces, so the README's verbalizer words (bad, good) are single pieces as in a real run
  spm = vocab.train_sentencepiece(shared_vocab['train'], os.path.join(workdir, 'spm.model'), 4000)
  cfg = corpus_config(shared_vocab, **{'model.max_positions': 512, 'model.vocab_size': 4000,
                                       'data.vocab_path': spm})
  models.validate(cfg.model)
  fake_run(workdir, cfg, seed=0)
  workdir_vocab.save(vocab.load(spm), workdir)
  return workdir


@pytest.fixture(scope='module')
def finetuned_workdir(tmp_path_factory, pretrained_workdir):
  """An SST-2 fine-tune of the pre-training workdir (a distillation teacher)."""
  from tests.conftest import glue_smoke_finetune  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp('finetuned') / 'sst2')
  glue_smoke_finetune(pretrained_workdir, workdir)
  return workdir


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


@pytest.fixture(scope='module')
def small_wiki_teacher(wordpiece_vocab, tmp_path_factory):
  """A configs/wiki.py:size=tiny run with the WordPiece vocabulary: SALT's small teacher."""
  from configs import wiki  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import vocab as vocab_lib, workdir_vocab  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp('wiki_tiny'))
  cfg = ml_collections.ConfigDict(wiki.get_config('size=tiny').to_dict())
  cfg.data.vocab_path = wordpiece_vocab
  fake_run(workdir, cfg, seed=0)
  workdir_vocab.save(vocab_lib.load(wordpiece_vocab), workdir)
  return workdir


@pytest.fixture(scope='module')
def ngram_lexicon_file(wordpiece_vocab, tmp_path_factory):
  """What configs/ernie_gram.py's step 1 (tools/build_ngram_lexicon.py) would build, small."""
  from mlm_jax import ngrams  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import ngram_lexicon, vocab as vocab_lib  # pylint: disable=g-import-not-at-top
  v = vocab_lib.load(wordpiece_vocab)
  docs = [v.seqio_vocab.encode(t) for t in ('the city of new york', 'in the city of london') * 5]
  lex = ngram_lexicon.build(docs, v.word_start, v.tokens.special, v.tokens.vocab_size, 'doc',
                            3, 20, 2)
  path = str(tmp_path_factory.mktemp('lexicon') / 'lexicon.npz')
  ngrams.save(lex, path)
  return path


def _localise(command: str, workdir: str, replacements: dict[str, str]) -> list[str]:
  """The command's arguments with placeholders swapped in one pass (longest first), so a
  replacement is never replaced again."""
  args = shlex.split(command, comments=True)[3:]  # drop `python -m mlm_jax.main`
  pattern = re.compile('|'.join(re.escape(p) for p in sorted(replacements, key=len, reverse=True)))
  out = []
  for arg in args:
    if arg.startswith('--workdir='):
      arg = f'--workdir={workdir}'
    out.append(pattern.sub(lambda m: replacements[m.group(0)], arg))
  return out


def test_commands_were_found():
  files = {f for f, _, _ in COMMANDS}
  assert 'README.md' in files and 'configs/bert.py' in files and len(COMMANDS) >= 8, COMMANDS


@pytest.mark.parametrize('where,command,expected', COMMANDS,
                         ids=[f'{w}:{c.split()[3][9:]}' for w, c, _ in COMMANDS])
def test_documented_command_runs_as_written(where, command, expected, tmp_path, capsys,
                                            shared_vocab, minilm_dir, wordpiece_vocab,
                                            pretrained_workdir, ngram_lexicon_file,
                                            finetuned_workdir, small_wiki_teacher):
  del where
  wiki = os.path.join(SHARED_DATA, 'pretrain', 'enwiki_wikitasks', 'wiki_0*.gz')
  squad = os.path.join(SHARED_DATA, 'squad', 'dev-v1.1.json.gz')
  if '/data/enwiki' in command and not glob.glob(wiki):
    pytest.skip('shared Wikipedia extracts are not available')
  replacements = {
      '/path/to/bert-base-uncased': minilm_dir,
      'corpus/*.txt': shared_vocab['train'], 'corpus/valid.txt': shared_vocab['validation'],
      '/data/enwiki/*/wiki_*': wiki, '/tmp/wiki/wordpiece/vocab.txt': wordpiece_vocab,
      # a third of the extracts: a dry run without data.vocab_path trains a vocabulary on them
      '../shared/data/pretrain/enwiki_wikitasks/wiki_*.gz': wiki,
      '/tmp/wiki/wp/vocab.txt': wordpiece_vocab, '/tmp/pay/wordpiece/vocab.txt': wordpiece_vocab,
      '/tmp/wiki/lexicon.npz': ngram_lexicon_file, 'LEX.npz': ngram_lexicon_file,
      # fine-tuning: a pre-training workdir, the shared GLUE and SQuAD files
      '--config.init_from.workdir=PRE': f'--config.init_from.workdir={pretrained_workdir}',
      '--config.init_from.workdir=PRETRAIN_DIR': f'--config.init_from.workdir={pretrained_workdir}',
      '--config.init_from.workdir=/tmp/mlm_demo': f'--config.init_from.workdir={pretrained_workdir}',
      '--config.init_from.workdir=/tmp/ft_meas/wiki_mini':
          f'--config.init_from.workdir={pretrained_workdir}',
      '/path/to/bert': minilm_dir, '/data/glue': os.path.join(SHARED_DATA, 'glue'),
      '/tmp/teacher_sst2': finetuned_workdir, '/tmp/wiki_tiny': small_wiki_teacher,
      '/data/domain/*.txt': os.path.join(SHARED_DATA, 'pretrain', 'tinyshakespeare',
                                         'input.txt.gz'),
      'GLUE_DIR': os.path.join(SHARED_DATA, 'glue'), '../shared/data': SHARED_DATA,
      '/data/squad/train-v1.1.json': squad, '/data/squad/dev-v1.1.json': squad,
      '=train-v1.1.json': f'={squad}', '=dev-v1.1.json': f'={squad}',
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
    out = capsys.readouterr().out
    assert 'dry run: ' in out and 'are usable' in out and 'left as found' in out, out
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
