"""Flax modules only. MODELS maps config.model.name to its family (models/family.py): the one
place that names the families; everything else reaches them through the registry."""
from mlm_jax.config_lib import ConfigError, require
from mlm_jax.models import (bert, blocks, electra, ernie_gram, modernbert, position_predictor,
                            splash, token_detector)
from mlm_jax.models.family import ModelFamily, encode_fn  # noqa: F401  (the contract)

MODELS: dict[str, ModelFamily] = {
    'bert': bert.FAMILY,
    'modernbert': modernbert.FAMILY,
    'electra': electra.FAMILY,
    'bert_token_detector': token_detector.FAMILY,
    'ernie_gram': ernie_gram.FAMILY,
    'position_predictor': position_predictor.FAMILY,
}


def family(model_cfg) -> ModelFamily:
  if model_cfg.name not in MODELS:
    raise ConfigError(f'model.name={model_cfg.name!r} is not one of {list(MODELS)}')
  return MODELS[model_cfg.name]


def build(model_cfg):
  """The pre-training Flax module of config.model."""
  return family(model_cfg).module(model_cfg)



def validate(model_cfg) -> None:
  """The encoder keys every family shares, then the family's own checks."""
  m = model_cfg
  fam = family(m)
  for key in ('vocab_size', 'hidden_size', 'num_layers', 'num_heads', 'mlp_dim', 'max_positions'):
    require(m[key] > 0, f'model.{key}={m[key]} must be positive')
  require(m.hidden_size % m.num_heads == 0,
           f'model.num_heads={m.num_heads} must divide model.hidden_size={m.hidden_size}')
  for key in ('dropout_rate', 'attention_dropout_rate'):
    require(0 <= m[key] < 1, f'model.{key}={m[key]} must be in [0, 1)')
  require(m.dtype in ('float32', 'bfloat16'), f'model.dtype={m.dtype!r} must be float32 or bfloat16')
  require(m.remat_policy in ('none', 'full', 'dots'),
           f'model.remat_policy={m.remat_policy!r} must be none, full or dots')
  require(m.attention_impl in ('xla', 'cudnn', 'splash'),
           f'model.attention_impl={m.attention_impl!r} must be xla, cudnn or splash')
  require(m.attention_impl == 'xla' or m.attention_dropout_rate == 0,
           f'model.attention_impl={m.attention_impl} needs model.attention_dropout_rate=0')
  if m.attention_impl == 'splash':
    require(m.attention_pattern in splash.PATTERNS,
            f'model.attention_impl=splash: model.attention_pattern={m.attention_pattern!r} is not '
            f'one of {list(splash.PATTERNS)}')
    require(m.position_scheme != 'alibi',
            'model.attention_impl=splash has no attention biases: not with position_scheme=alibi')
  blocks.validate_block(m)
  fam.validate(m)
