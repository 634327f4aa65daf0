"""tools/prepare_corpus.py as a user runs it: the configured corpus tokenized and packed once into
shard files plus a manifest that the trainer checks; a wrong key is one line naming it."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a process of its own (TensorFlow's import alone is seconds)


def _prepare(shared_vocab, out, *extra):
  """The tool on the first documents of the built-in corpus (one per line)."""
  small = {}
  for split, lines in (('train', 300), ('validation', 40)):
    small[split] = os.path.join(os.path.dirname(out), f'{split}.txt')
    with open(shared_vocab[split]) as f, open(small[split], 'w') as g:
      g.writelines(line for _, line in zip(range(lines), f))
  return subprocess.run(
      [sys.executable, 'tools/prepare_corpus.py', '--config=configs/smoke.py',
       f'--workdir={os.path.dirname(out)}', f'--out={out}', '--shards=2',
       '--config.data.task=files', f'--config.data.train_files={small["train"]}',
       f'--config.data.validation_files={small["validation"]}',
       f'--config.data.vocab_path={shared_vocab["vocab_path"]}', *extra],
      cwd=REPO, capture_output=True, text=True, timeout=300)


def test_prepare_corpus_writes_shards_and_a_manifest(shared_vocab, tmp_path):
  out = str(tmp_path / 'prepared')
  done = _prepare(shared_vocab, out)
  assert done.returncode == 0, done.stderr[-2000:]
  manifest = json.loads(open(os.path.join(out, 'manifest.json')).read())
  assert manifest['splits']['train']['documents'] == 300
  assert manifest['splits']['validation']['documents'] == 40
  for split in ('train', 'validation'):
    info = manifest['splits'][split]
    assert len(info['files']) == 2 and info['rows'] > 0
    assert all(os.path.getsize(os.path.join(out, f)) > 0 for f in info['files'])
    # The printed summary is the manifest's.
    assert f'{split}: {info["documents"]:,} documents -> {info["rows"]:,} rows' in done.stdout
  assert f'wrote {out}/manifest.json' in done.stdout


def test_prepare_corpus_names_a_wrong_key_in_one_line(shared_vocab, tmp_path):
  done = _prepare(shared_vocab, str(tmp_path / 'prepared'), '--config.data.nope=1')
  assert done.returncode != 0
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and 'data.nope' in lines[0], done.stderr[-2000:]
  assert not os.path.exists(tmp_path / 'prepared')
