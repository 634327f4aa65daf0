"""Every path the product writes or reads may be local or remote (gs://...). Local paths keep
Python's own file calls; remote ones go through tf.io.gfile, TensorFlow's filesystem layer, which
the input pipeline already uses for them (and etils.epath, Orbax's path type, too).

GCS objects are whole: a "rename" is a copy and a delete, and an object appears only when its
upload completes, so writing a remote file directly is as atomic as local write-then-rename."""
import contextlib
import os
import shutil
import tempfile


def is_remote(path: str) -> bool:
  return '://' in str(path)


def _gfile():
  from mlm_jax import quiet  # pylint: disable=g-import-not-at-top
  quiet.import_tensorflow()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


def absolute(path: str) -> str:
  return path if is_remote(path) else os.path.abspath(path)


def exists(path: str) -> bool:
  return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path: str) -> bool:
  return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def isfile(path: str) -> bool:
  if is_remote(path):
    g = _gfile()
    return g.exists(path) and not g.isdir(path)
  return os.path.isfile(path)


def listdir(path: str) -> list[str]:
  """Names in PATH (directories without gfile's trailing slash)."""
  if is_remote(path):
    return [name.rstrip('/') for name in _gfile().listdir(path)]
  return os.listdir(path)


def glob(pattern: str) -> list[str]:
  if is_remote(pattern):
    return sorted(_gfile().glob(pattern))
  import glob as glob_lib  # pylint: disable=g-import-not-at-top
  return sorted(glob_lib.glob(pattern))


def makedirs(path: str) -> None:
  if is_remote(path):
    _gfile().makedirs(path)
  else:
    os.makedirs(path, exist_ok=True)


def rmtree(path: str) -> None:
  if is_remote(path):
    if _gfile().exists(path):
      _gfile().rmtree(path)
  else:
    shutil.rmtree(path, ignore_errors=True)


def remove(path: str) -> None:
  if is_remote(path):
    _gfile().remove(path)
  else:
    os.remove(path)


def getsize(path: str) -> int:
  return _gfile().stat(path).length if is_remote(path) else os.path.getsize(path)


def walk_sizes(path: str) -> int:
  """Bytes of every file under PATH."""
  if is_remote(path):
    g = _gfile()
    return sum(g.stat(os.path.join(d, f)).length for d, _, files in g.walk(path) for f in files)
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def open(path: str, mode: str = 'r'):  # pylint: disable=redefined-builtin
  """A file object; remote append ('a') rewrites the object on each flush (GCS has no append)."""
  if is_remote(path):
    return _gfile().GFile(path, mode)
  import builtins  # pylint: disable=g-import-not-at-top
  return builtins.open(path, mode, **({} if 'b' in mode else {'encoding': 'utf-8'}))


def read_text(path: str) -> str:
  with open(path) as f:
    return f.read()


def write_text(path: str, text: str) -> None:
  """Whole or nothing: local files are written beside and renamed; a remote object only appears
  when its upload completes."""
  if is_remote(path):
    with open(path, 'w') as f:
      f.write(text)
    return
  with open(path + '.tmp', 'w') as f:
    f.write(text)
  os.replace(path + '.tmp', path)


def copy(src: str, dst: str) -> None:
  if is_remote(src) or is_remote(dst):
    _gfile().copy(src, dst, overwrite=True)
  else:
    shutil.copyfile(src, dst)


def move_tree(src: str, dst: str) -> None:
  """A directory to a new place (remote: copied file by file, then deleted)."""
  if not (is_remote(src) or is_remote(dst)):
    shutil.move(src, dst)
    return
  upload_tree(src, dst)
  rmtree(src)


def upload_tree(src: str, dst: str) -> None:
  """Every file under SRC to the same relative place under DST (any side local or remote)."""
  g = _gfile()
  for d, _, files in (g.walk(src) if is_remote(src) else os.walk(src)):
    rel = os.path.relpath(d, src) if not is_remote(src) else d[len(src.rstrip('/')):].strip('/')
    target = os.path.join(dst, rel) if rel not in ('', '.') else dst
    makedirs(target)
    for name in files:
      copy(os.path.join(d, name), os.path.join(target, name))


@contextlib.contextmanager
def local_dir(path: str, create: bool = False):
  """A local directory standing for PATH: PATH itself when local; a temporary directory that is
  uploaded to PATH on success when remote (for writers that only know local files:
  transformers' save_pretrained, safetensors, SentencePiece's trainer)."""
  if not is_remote(path):  # CREATE: made now; else by the writer (a refusal leaves nothing)
    if create:
      os.makedirs(path, exist_ok=True)
    yield path
    return
  with tempfile.TemporaryDirectory(prefix='mlm_jax_') as tmp:
    yield tmp
    upload_tree(tmp, path)


def cache_dir(*parts: str) -> str:
  """A local directory that outlives this call (the system's temporary area), for local
  copies of remote files that libraries read lazily."""
  path = os.path.join(tempfile.gettempdir(), f'mlm_jax_cache_{os.getuid()}', *parts)
  os.makedirs(path, exist_ok=True)
  return path


def cached_local(path: str) -> str:
  """PATH itself when local; else a local copy (fetched once per process) of the file or
  directory: SentencePiece and transformers read local files only."""
  if not is_remote(path):
    return path
  import hashlib  # pylint: disable=g-import-not-at-top
  stat = None if isdir(path) else _gfile().stat(path)  # a changed object is fetched anew
  version = f'{path}|{stat.length}|{stat.mtime_nsec}' if stat else f'{path}|{os.getpid()}'
  key = hashlib.sha1(version.encode()).hexdigest()[:16]
  target = os.path.join(cache_dir('remote', key), os.path.basename(path.rstrip('/')))
  if not os.path.exists(target):
    partial = tempfile.mkdtemp(dir=os.path.dirname(target))  # complete copies only
    fetched = os.path.join(partial, os.path.basename(target))
    if stat is None:
      upload_tree(path, fetched)
    else:
      copy(path, fetched)
    try:
      os.rename(fetched, target)
    except OSError:  # another process put it there first
      pass
    shutil.rmtree(partial, ignore_errors=True)
  return target
