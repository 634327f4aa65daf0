"""GLUE through TFDS (finetune.format=tfds): glue/rte prepared in a local data_dir from the real
shared TSV files (TFDS's own builder; its download replaced by the local folder, nothing leaves
the machine), then read back: the same sentences and labels as the TSV reader."""
import os
import shutil

import pytest

from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import glue
from tests.conftest import SHARED_DATA


@pytest.fixture(scope='module')
def tfds_dir(tmp_path_factory, monkeypatch_module):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  extracted = tmp_path_factory.mktemp('extracted')
  shutil.copytree(os.path.join(SHARED_DATA, 'glue', 'RTE'), extracted / 'RTE')
  # The shared copy has no test file; TFDS's builder wants one.
  (extracted / 'RTE' / 'test.tsv').write_text('index\tsentence1\tsentence2\n0\tA cat.\tAn animal.\n')
  monkeypatch_module.setattr(tfds.download.DownloadManager, 'download_and_extract',
                             lambda self, url: str(extracted))
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  tfds.builder('glue/rte', data_dir=data_dir).download_and_prepare(
      download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  return data_dir


@pytest.fixture(scope='module')
def monkeypatch_module():
  with pytest.MonkeyPatch.context() as mp:
    yield mp


@pytest.mark.parametrize('split', ['train', 'dev'])
def test_tfds_rte_equals_the_tsv_files(tfds_dir, split):
  task = glue.get_task('rte')
  (from_tfds,) = glue.read_split(tfds_dir, task, split, 'tfds').values()
  (from_tsv,) = glue.read_split(os.path.join(SHARED_DATA, 'glue'), task, split).values()
  assert len(from_tfds) == len(from_tsv) == {'train': 2490, 'dev': 277}[split]
  # TFDS shuffles on preparation: compare as multisets of (a, b, label).
  key = lambda e: (e.text_a, e.text_b, e.label)  # noqa: E731
  assert sorted(map(key, from_tfds)) == sorted(map(key, from_tsv))


def test_unprepared_tfds_dir_is_one_line(tmp_path):
  with pytest.raises(ConfigError, match='TFDS glue/rte is not prepared there'):
    glue.read_split(str(tmp_path), glue.get_task('rte'), 'dev', 'tfds')
