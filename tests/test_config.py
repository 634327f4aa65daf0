import json
import re

import jax
import ml_collections
import pytest

from configs import base, bert
from mlm_jax import config_lib, validation
from mlm_jax.objectives import masking
from tests.conftest import tiny_config


def test_base_config_is_locked():
  c = base.get_config()
  with pytest.raises(AttributeError):
    c.train.stepz = 3
  c.train.steps = 7  # existing keys stay writable
  assert c.train.steps == 7


def test_every_key_is_declared_once_with_a_comment():
  """House rule 1: configs/base.py declares each key once, with a one-line comment (on its
  line or the line above)."""
  import os  # pylint: disable=g-import-not-at-top
  with open(os.path.join(os.path.dirname(base.__file__), 'base.py'), encoding='utf-8') as f:
    lines = f.read().splitlines()
  sections = {'c': '', 'm': 'model.', 'o': 'objective.', 'd': 'data.', 't': 'train.',
              'e': 'eval.', 'k': 'checkpoint.', 'c.init_from': 'init_from.', 'c.mesh': 'mesh.',
              'f': 'finetune.', 'fl': 'data.filter.'}
  declared = {}
  for i, line in enumerate(lines):
    stripped = line.strip()
    head = stripped.split('=')[0].strip()
    if '=' not in stripped or ' ' in head or '.' not in head or '(' in head:
      continue
    owner, _, key = head.rpartition('.')
    if owner not in sections or 'ConfigDict(' in stripped:
      continue
    name = sections[owner] + key
    assert name not in declared, f'{name} declared twice (lines {declared[name]} and {i + 1})'
    declared[name] = i + 1
    commented = '#' in line or lines[i - 1].strip().startswith('#')
    assert commented, f'configs/base.py:{i + 1}: {name} has no comment'

  def leaves(cfg, prefix=''):
    for k, v in cfg.items():
      if isinstance(v, ml_collections.ConfigDict):
        yield from leaves(v, f'{prefix}{k}.')
      else:
        yield prefix + k
  assert set(leaves(base.get_base_config())) == set(declared)


def test_bert_sizes_and_seq_len():
  mini = bert.get_config('size=mini')
  assert (mini.model.num_layers, mini.model.hidden_size, mini.model.num_heads) == (4, 256, 4)
  large = bert.get_config('size=large,seq_len=512')
  assert (large.model.num_layers, large.model.hidden_size, large.model.mlp_dim) == (24, 1024, 4096)
  assert large.data.seq_len == 512 and large.objective.max_predictions == 0
  assert masking.slots(large.objective, 512) == 76  # the paper's phase 2
  assert masking.slots(bert.get_config('').objective, 128) == 19  # the paper's 20th never used
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
    ('train.weight_decay', -0.01, 'train.weight_decay=-0.01 must be >= 0'),
    ('train.adam_b2', 1.0, 'train.adam_b2=1.0 must be in [0, 1)'),
    ('train.adam_eps', 0.0, 'train.adam_eps=0.0 must be positive'),
    ('train.grad_clip_norm', -1.0, 'train.grad_clip_norm=-1.0 must be >= 0'),
    ('train.end_lr_fraction', 1.5, 'train.end_lr_fraction=1.5 must be in [0, 1]'),
    ('objective.mask_rate', 1.0, 'objective.mask_rate'),
    ('objective.mask_rate', 0.0, 'objective.mask_rate'),
    ('data.seq_len', 128, 'model.max_positions'),
    ('data.seq_len', -5, 'data.seq_len=-5 must be at least 8'),  # before the objective's
    ('train.batch_size', 12, 'data-parallel'),
    ('train.micro_batches', 3, 'train.micro_batches'),
    ('mesh.data', 3, 'mesh'),
    ('model.num_heads', 5, 'model.num_heads'),
])
def test_validation_names_the_key(key, value, needle):
  c = tiny_config(**{'objective.max_predictions': 0, key: value})  # slots follow data.seq_len
  with pytest.raises(config_lib.ConfigError, match=re.escape(needle)):
    validation.validate(c, jax.device_count())


def test_prediction_slots_too_few_for_the_rate_is_one_line():
  c = tiny_config(**{'objective.mask_rate': 0.3, 'objective.max_predictions': 5})
  seq_len = c.data.seq_len
  need = masking.prediction_slots(0.3, seq_len)
  with pytest.raises(config_lib.ConfigError, match=f'objective.max_predictions=5 is too small '
                     rf'for objective.mask_rate=0.3 at data.seq_len={seq_len}: a full row needs '
                     f'{need} slots'):
    validation.validate(c, jax.device_count())
  c.objective.max_predictions = 0  # derived
  validation.validate(c, jax.device_count())


def test_missing_corpus_file_is_named(tmp_path):
  c = tiny_config(**{'data.task': 'files', 'data.train_files': str(tmp_path / 'nope.txt'),
                     'data.validation_files': str(tmp_path / 'nope.txt')})
  with pytest.raises(config_lib.ConfigError, match='nope.txt'):
    validation.validate(c, 8)


@pytest.mark.parametrize('key,value,named', [
    ('model.embedding_sharing', 'both', 'model.embedding_sharing'),
    ('model.generator_size_fraction', 0.0, 'model.generator_size_fraction'),
    ('objective.mcl_courses', 'rtd,xyz', 'objective.mcl_courses'),
])
def test_electra_and_mcl_keys_are_validated(key, value, named):
  c = tiny_config(**{key: value, 'model.name': 'electra',
                     'objective.name': 'mcl' if 'mcl' in key else 'electra'})
  with pytest.raises(config_lib.ConfigError, match=named):
    validation.validate(c, 8)


def test_run_config_written_before_a_key_existed_gets_its_default(tmp_path):
  """An older workdir's config.json lacks keys added since: they load with their defaults (the
  old behaviour), its own values win, and a key it has that base no longer has is kept."""
  saved = tiny_config().to_dict()
  del saved['objective']['masking'], saved['init_from']
  saved['objective']['mask_rate'] = 0.3
  saved['retired_section'] = {'x': 1}
  (tmp_path / config_lib.RUN_CONFIG).write_text(json.dumps(saved))
  loaded = config_lib.load_run_config(str(tmp_path))
  assert loaded.objective.masking == 'tokens' and loaded.init_from.weights is True
  assert loaded.objective.mask_rate == 0.3 and loaded.model.hidden_size == saved['model']['hidden_size']
  assert loaded.retired_section.x == 1
