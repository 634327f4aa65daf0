"""mlm_jax/fs.py on local paths (gs:// paths: tests/test_gcs_workdir.py, against an emulator)."""
import os

from mlm_jax import fs


def test_local_paths_use_the_local_filesystem(tmp_path):
  d = str(tmp_path / 'a' / 'b')
  fs.makedirs(d)
  fs.write_text(os.path.join(d, 'x.json'), '{}')
  assert fs.isfile(os.path.join(d, 'x.json')) and fs.isdir(d) and not fs.isfile(d)
  assert fs.read_text(os.path.join(d, 'x.json')) == '{}'
  assert not os.path.exists(os.path.join(d, 'x.json.tmp'))  # written beside, then renamed
  assert fs.listdir(d) == ['x.json'] and fs.glob(os.path.join(d, '*.json')) == [
      os.path.join(d, 'x.json')]
  assert fs.getsize(os.path.join(d, 'x.json')) == 2 and fs.walk_sizes(str(tmp_path)) == 2
  assert fs.absolute('rel') == os.path.abspath('rel') and fs.absolute('gs://b/r') == 'gs://b/r'
  assert fs.is_remote('gs://b/x') and not fs.is_remote(d)
  with fs.open(os.path.join(d, 'log'), 'a') as f:
    f.write('one\n')
  with fs.open(os.path.join(d, 'log'), 'a') as f:
    f.write('two\n')
  assert fs.read_text(os.path.join(d, 'log')) == 'one\ntwo\n'


def test_trees_copy_move_and_remove(tmp_path):
  src = tmp_path / 'src'
  (src / 'sub').mkdir(parents=True)
  (src / 'top.txt').write_text('t')
  (src / 'sub' / 'low.txt').write_text('l')
  fs.upload_tree(str(src), str(tmp_path / 'copy'))
  assert (tmp_path / 'copy' / 'sub' / 'low.txt').read_text() == 'l'
  fs.move_tree(str(tmp_path / 'copy'), str(tmp_path / 'moved'))
  assert not (tmp_path / 'copy').exists() and (tmp_path / 'moved' / 'top.txt').exists()
  fs.rmtree(str(tmp_path / 'moved'))
  fs.rmtree(str(tmp_path / 'never-there'))  # no error
  assert not (tmp_path / 'moved').exists()


def test_local_stand_ins_are_the_path_itself(tmp_path):
  with fs.local_dir(str(tmp_path / 'out')) as d:
    assert d == str(tmp_path / 'out') and not os.path.exists(d)  # created by the writer
    os.makedirs(d)
  assert fs.cached_local(str(tmp_path)) == str(tmp_path)
