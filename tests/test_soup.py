"""Course soups: averaging, weights, refusal of incompatible runs, and a soup workdir that the
export and training code read."""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from mlm_jax import checkpointing, config_lib, lineage, soup, train
from mlm_jax.config_lib import ConfigError
from tests.conftest import REPO
from tests.conftest import corpus_config as _config, fake_run as _fake_run



def _leaves(tree):
  return jax.tree.leaves(tree)


def test_soup_of_identical_checkpoints_is_the_checkpoint(shared_vocab, tmp_path):
  cfg = _config(shared_vocab)
  params = _fake_run(str(tmp_path / 'a'), cfg, seed=0)
  _fake_run(str(tmp_path / 'b'), cfg, seed=0)
  record = soup.make_soup([str(tmp_path / 'a'), str(tmp_path / 'b')], str(tmp_path / 'soup'))
  assert record['steps'] == [7, 7] and record['weights'] == [0.5, 0.5]
  got, step = soup.load_params(str(tmp_path / 'soup'))
  assert step == 0
  for x, y in zip(_leaves(got), _leaves(params)):
    np.testing.assert_array_equal(x, y)
  # The export path reads the soup workdir as it reads a training run.
  exported, _ = checkpointing.restore_params(config_lib.load_run_config(str(tmp_path / 'soup')),
                                         str(tmp_path / 'soup'))
  np.testing.assert_array_equal(_leaves(exported)[0], _leaves(params)[0])


def test_weights_are_respected(shared_vocab, tmp_path):
  cfg = _config(shared_vocab, **{'train.learning_rate': 1e-3})  # train sections may differ
  a = _fake_run(str(tmp_path / 'a'), _config(shared_vocab), seed=0)
  b = _fake_run(str(tmp_path / 'b'), cfg, seed=1)
  soup.make_soup([str(tmp_path / 'a'), str(tmp_path / 'b')], str(tmp_path / 'soup'), [3, 1])
  got, _ = soup.load_params(str(tmp_path / 'soup'))
  for g, x, y in zip(_leaves(got), _leaves(a), _leaves(b)):
    np.testing.assert_allclose(g, 0.75 * x + 0.25 * y, rtol=1e-6, atol=1e-7)


def test_average_refuses_mismatched_tensors_naming_the_first():
  a = {'layer': {'kernel': np.zeros((2, 3)), 'bias': np.zeros(3)}}
  b = {'layer': {'kernel': np.zeros((2, 4)), 'bias': np.zeros(3)}}
  with pytest.raises(ConfigError, match=r'tensor layer/kernel has shape \(2, 3\)'):
    soup.average([a, b])
  with pytest.raises(ConfigError, match='tensor layer/extra exists only in'):
    soup.average([a, {'layer': {**a['layer'], 'extra': np.zeros(1)}}])
  np.testing.assert_array_equal(soup.average([a, a], [0.0, 2.0])['layer']['bias'], np.zeros(3))


def test_runs_without_a_common_ancestor_are_refused_in_one_line(shared_vocab, tmp_path):
  cfg = _config(shared_vocab)
  _fake_run(str(tmp_path / 'a'), cfg, seed=0, ancestors=('t1', 'x'))
  _fake_run(str(tmp_path / 'b'), cfg, seed=1, ancestors=('t2',))
  _fake_run(str(tmp_path / 'c'), cfg, seed=2, ancestors=())  # trained from scratch
  for other in ('b', 'c'):
    with pytest.raises(ConfigError, match=f'{tmp_path / "a"} and {tmp_path / other} have no '
                                          'common ancestor'):
      soup.make_soup([str(tmp_path / 'a'), str(tmp_path / other)], str(tmp_path / 'soup'))
  _fake_run(str(tmp_path / 'd'), cfg, seed=3, ancestors=('t1', 'y'))
  soup.make_soup([str(tmp_path / 'a'), str(tmp_path / 'd')], str(tmp_path / 'soup'))
  assert lineage.read(str(tmp_path / 'soup')) == ['t1']  # what the ingredients share


def test_incompatible_model_sections_are_refused_in_one_line(shared_vocab, tmp_path):
  _fake_run(str(tmp_path / 'a'), _config(shared_vocab), seed=0)
  _fake_run(str(tmp_path / 'b'), _config(shared_vocab, **{'model.mlp_dim': 96}), seed=0)
  with pytest.raises(ConfigError, match='model.mlp_dim: 128 vs 96'):
    soup.make_soup([str(tmp_path / 'a'), str(tmp_path / 'b')], str(tmp_path / 'soup'))
  out = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'soup.py'),
                        f'--workdirs={tmp_path / "a"},{tmp_path / "b"}',
                        f'--out={tmp_path / "soup2"}'], capture_output=True, text=True,
                       env={**os.environ, 'PYTHONPATH': REPO}, check=False)
  assert out.returncode == 1
  assert out.stderr.strip().splitlines()[-1].startswith('error: ') and 'model.mlp_dim' in out.stderr


@pytest.mark.slow
def test_training_continues_from_a_soup(shared_vocab, tmp_path):
  cfg = _config(shared_vocab, **{'train.steps': 2, 'train.log_every_steps': 1,
                                 'checkpoint.every_steps': 2})
  _fake_run(str(tmp_path / 'a'), cfg, seed=0)
  _fake_run(str(tmp_path / 'b'), cfg, seed=1)
  out = str(tmp_path / 'soup')
  soup.make_soup([str(tmp_path / 'a'), str(tmp_path / 'b')], out)
  train.run(soup.load_run_config(out), out)  # resumes from the soup's step 0 on 8 devices
  assert checkpointing.Checkpointer(out, keep=1, every_steps=1).latest_step() == 2
