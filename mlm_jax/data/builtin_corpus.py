"""The embedded default corpus: English prose that ships with every CPython install.

Documents are the interactive-help topics (`pydoc_data.topics`) and the module, class and
function docstrings of the standard library, read with `ast` (nothing is imported). About one
document in 25, chosen by a hash of its name, is held out for validation. Reading the standard
library takes seconds, so the corpus is built once per machine and Python (in the local cache)
and copied into each workdir that uses it.
"""
import ast
import contextlib
import hashlib
import os
import re
import shutil
import sys
import sysconfig
import tempfile

MIN_CHARS = 200  # shorter docstrings are mostly one-liners ("Return self.")
SKIP_DIRS = {'test', 'tests', 'idle_test', 'site-packages', 'dist-packages', '__pycache__'}
VALIDATION_ONE_IN = 25


def _clean(text: str) -> str:
  return re.sub(r'\s+', ' ', text).strip()


def iter_documents():
  """Yields (name, text) in a fixed order."""
  import pydoc_data.topics  # pylint: disable=g-import-not-at-top
  for name in sorted(pydoc_data.topics.topics):
    text = _clean(pydoc_data.topics.topics[name])
    if len(text) >= MIN_CHARS:
      yield f'topic:{name}', text
  root = sysconfig.get_paths()['stdlib']
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
    for filename in sorted(f for f in filenames if f.endswith('.py')):
      path = os.path.join(dirpath, filename)
      try:
        with open(path, encoding='utf-8') as f:
          tree = ast.parse(f.read())
      except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        continue
      rel = os.path.relpath(path, root)
      for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
          doc = _clean(ast.get_docstring(node) or '')
          if len(doc) >= MIN_CHARS:
            yield f'{rel}:{getattr(node, "name", "")}:{getattr(node, "lineno", 0)}', doc


def is_validation(name: str) -> bool:
  return int(hashlib.sha1(name.encode()).hexdigest(), 16) % VALIDATION_ONE_IN == 0


def _split_paths(out_dir: str) -> dict[str, str]:
  tag = f'py{sys.version_info.major}{sys.version_info.minor}'
  return {s: os.path.join(out_dir, f'builtin_docs_{tag}_{s}.txt') for s in ('train', 'validation')}


def _publish(out_dir: str, write) -> dict[str, str]:
  """WRITE(split -> temporary path) fills the splits; each then replaces its final name
  atomically, so a half-written corpus is never picked up. Temporary names are unique per
  writer (hosts sharing a workdir included); writers racing publish identical files."""
  paths = _split_paths(out_dir)
  if all(os.path.exists(p) for p in paths.values()):
    return paths
  os.makedirs(out_dir, exist_ok=True)
  tmp = {}
  try:
    for s, p in paths.items():
      fd, tmp[s] = tempfile.mkstemp(dir=out_dir, prefix=os.path.basename(p) + '.', suffix='.tmp')
      os.close(fd)
    write(tmp)
    for s in paths:
      os.replace(tmp.pop(s), paths[s])
  finally:
    for leftover in tmp.values():  # a failed write leaves nothing behind
      with contextlib.suppress(OSError):
        os.remove(leftover)
  return paths


def _write_documents(tmp: dict[str, str]) -> None:
  with open(tmp['train'], 'w', encoding='utf-8') as train, \
       open(tmp['validation'], 'w', encoding='utf-8') as valid:
    seen = set()
    for name, text in iter_documents():
      if text in seen:  # inherited docstrings repeat verbatim
        continue
      seen.add(text)
      (valid if is_validation(name) else train).write(text + '\n')


def cached_corpus() -> dict[str, str]:
  """This machine's copy (split -> path), built on first use. Keyed by the exact interpreter,
  its standard library's location and this module's source: another Python, or a change to
  how documents are read, gives another corpus."""
  from mlm_jax import fs  # pylint: disable=g-import-not-at-top
  with open(__file__, 'rb') as f:
    source = f.read()
  key = hashlib.sha1(f'{sys.version}|{sysconfig.get_paths()["stdlib"]}|'.encode() + source)
  return _publish(fs.cache_dir('corpus', key.hexdigest()[:16]), _write_documents)


def write_corpus(out_dir: str) -> dict[str, str]:
  """train.txt and validation.txt (one document per line) in OUT_DIR, once; split -> path."""
  paths = _split_paths(out_dir)
  if all(os.path.exists(p) for p in paths.values()):  # a resumed run: no cache needed
    return paths
  source = cached_corpus()
  return _publish(out_dir, lambda tmp: [shutil.copyfile(source[s], tmp[s]) for s in tmp])
