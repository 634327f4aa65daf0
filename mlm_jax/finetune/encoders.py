"""Fine-tuning's view of the model families: each family declares its downstream encoder
(models/family.py `encoder`, `encoder_params`, `has_mlm_head`); this module only adds the
one-line errors fine-tuning reports for a checkpoint that lacks what the task needs."""
from flax import linen as nn

from mlm_jax import models
from mlm_jax.config_lib import ConfigError


def check(model_cfg, mlm_head: bool = False, where: str = 'model.name') -> None:
  fam = models.family(model_cfg)
  if mlm_head and not fam.has_mlm_head:
    with_head = [name for name, f in models.MODELS.items() if f.has_mlm_head]
    raise ConfigError(f'{where}={model_cfg.name!r}: the checkpoint has no MLM head on its '
                      f'encoder; generative classification needs one of {with_head}')


def encoder_module(model_cfg, deterministic: bool = True, mlm_head: bool = False,
                   name: str | None = None) -> nn.Module:
  check(model_cfg, mlm_head)
  return models.family(model_cfg).encoder(model_cfg, deterministic, mlm_head, name)


def encoder_params(model_cfg, params: dict, mlm_head: bool = False,
                   where: str = 'init_from') -> dict:
  """The encoder's parameters (names as encoder_module's) from a full pre-training tree."""
  check(model_cfg, mlm_head)
  try:
    return models.family(model_cfg).encoder_params(model_cfg, params, mlm_head)
  except KeyError as e:
    raise ConfigError(f'{where}: the checkpoint has no {e.args[0]} (no encoder of this '
                      'family)') from None
