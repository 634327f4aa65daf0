import subprocess
import sys

import jax
import ml_collections
import pytest

from configs import base, bert, demo
from mlm_jax import config_lib
from tests.conftest import REPO, tiny_config


def test_base_config_is_locked():
  c = base.get_config()
  with pytest.raises(AttributeError):
    c.train.stepz = 3
  c.train.steps = 7  # existing keys stay writable
  assert c.train.steps == 7


def test_required_keys_exist():
  c = demo.get_config()
  for key in ('seed', 'train.steps', 'train.log_every_steps', 'checkpoint.every_steps',
              'eval.every_steps'):
    node = c
    for part in key.split('.'):
      node = node[part]


def test_bert_sizes_and_seq_len():
  mini = bert.get_config('size=mini')
  assert (mini.model.num_layers, mini.model.hidden_size, mini.model.num_heads) == (4, 256, 4)
  large = bert.get_config('size=large,seq_len=512')
  assert (large.model.num_layers, large.model.hidden_size, large.model.mlp_dim) == (24, 1024, 4096)
  assert large.data.seq_len == 512 and large.objective.max_predictions == 76
  with pytest.raises(config_lib.ConfigError, match='size'):
    bert.get_config('size=huge')
  with pytest.raises(config_lib.ConfigError, match='seq_len'):
    bert.get_config('seq_len=256')


def test_parse_variant():
  out = config_lib.parse_variant('size=base,debug', {'size': 'mini', 'debug': False, 'n': 1})
  assert out == {'size': 'base', 'debug': True, 'n': 1}
  with pytest.raises(config_lib.ConfigError, match='bogus'):
    config_lib.parse_variant('bogus=1', {'size': 'mini'})


@pytest.mark.parametrize('key,value,needle', [
    ('train.learning_rate', 0.0, 'train.learning_rate'),
    ('train.learning_rate', -1e-4, 'train.learning_rate'),
    ('train.steps', 0, 'train.steps'),
    ('objective.mask_rate', 1.0, 'objective.mask_rate'),
    ('objective.mask_rate', 0.0, 'objective.mask_rate'),
    ('data.seq_len', 128, 'model.max_positions'),
    ('train.batch_size', 12, 'data-parallel'),
    ('train.micro_batches', 3, 'train.micro_batches'),
    ('mesh.data', 3, 'mesh'),
    ('model.num_heads', 5, 'model.num_heads'),
])
def test_validation_names_the_key(key, value, needle):
  c = tiny_config(**{key: value})
  with pytest.raises(config_lib.ConfigError, match=needle.replace('.', r'\.')):
    config_lib.validate(c, jax.device_count())


def test_missing_corpus_file_is_named(tmp_path):
  c = tiny_config(**{'data.task': 'files', 'data.train_files': str(tmp_path / 'nope.txt'),
                     'data.validation_files': str(tmp_path / 'nope.txt')})
  with pytest.raises(config_lib.ConfigError, match='nope.txt'):
    config_lib.validate(c, 8)


def _main(*args, workdir):
  return subprocess.run([sys.executable, '-m', 'mlm_jax.main', '--config=configs/demo.py',
                         f'--workdir={workdir}', *args], cwd=REPO, capture_output=True,
                        text=True, timeout=300)


@pytest.mark.parametrize('args,needle', [
    (['--config.train.stepz=3'], 'stepz'),
    (['--config.train.learning_rate=-1'], 'train.learning_rate'),
    (['--config.train.steps=0'], 'train.steps'),
    (['--config.objective.mask_rate=1.5'], 'objective.mask_rate'),
    (['--config.data.seq_len=512'], 'data.seq_len'),
    (['--config.train.batch_size=30', '--config.train.micro_batches=4'], 'train.micro_batches'),
    (['--config.data.task=files', '--config.data.train_files=/nonexistent/c.txt',
      '--config.data.validation_files=/nonexistent/c.txt'], '/nonexistent/c.txt'),
])
def test_cli_bad_input_one_line_and_workdir_untouched(tmp_path, args, needle):
  workdir = tmp_path / 'wd'
  result = _main(*args, workdir=workdir)
  assert result.returncode != 0
  errors = [line for line in result.stderr.splitlines() if needle in line]
  assert errors, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  assert not workdir.exists()


def test_cli_batch_not_divisible_by_devices(tmp_path):
  workdir = tmp_path / 'wd'
  env_flags = '--xla_force_host_platform_device_count=8'
  result = subprocess.run(
      [sys.executable, '-m', 'mlm_jax.main', '--config=configs/demo.py', f'--workdir={workdir}',
       '--config.train.batch_size=12'], cwd=REPO, capture_output=True, text=True, timeout=300,
      env={**__import__('os').environ, 'XLA_FLAGS': env_flags})
  assert result.returncode != 0
  assert any('data-parallel' in line for line in result.stderr.splitlines()), result.stderr[-2000:]
  assert not workdir.exists()


@pytest.mark.parametrize('key,value,named', [
    ('model.embedding_sharing', 'both', 'model.embedding_sharing'),
    ('model.generator_size_fraction', 0.0, 'model.generator_size_fraction'),
    ('objective.mcl_courses', 'rtd,xyz', 'objective.mcl_courses'),
])
def test_electra_and_mcl_keys_are_validated(key, value, named):
  c = tiny_config(**{key: value, 'objective.name': 'mcl' if 'mcl' in key else 'mlm'})
  with pytest.raises(config_lib.ConfigError, match=named):
    config_lib.validate(c, 8)
