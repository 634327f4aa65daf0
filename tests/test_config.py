import jax
import ml_collections
import pytest

from configs import base, bert, demo
from mlm_jax import config_lib
from tests.conftest import tiny_config


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


@pytest.mark.parametrize('key,value,named', [
    ('model.embedding_sharing', 'both', 'model.embedding_sharing'),
    ('model.generator_size_fraction', 0.0, 'model.generator_size_fraction'),
    ('objective.mcl_courses', 'rtd,xyz', 'objective.mcl_courses'),
])
def test_electra_and_mcl_keys_are_validated(key, value, named):
  c = tiny_config(**{key: value, 'objective.name': 'mcl' if 'mcl' in key else 'mlm'})
  with pytest.raises(config_lib.ConfigError, match=named):
    config_lib.validate(c, 8)
