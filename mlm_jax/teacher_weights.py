"""A frozen teacher's weights: the downstream encoder of an mlm_jax workdir (its latest
checkpoint) or of a local Hugging Face directory, read on the host, then placed on the mesh with
the shardings its own logical axes give (sharded like a student of its size), to run inside the
student's jitted step without a gradient (Objective.load_frozen names load)."""
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from mlm_jax import checkpointing, config_lib, models, sharding, state, teacher
from mlm_jax.config_lib import ConfigError, require


@dataclasses.dataclass(frozen=True)
class Teacher:
  model_cfg: Any  # its model section
  params: Any  # its downstream encoder's parameters (family.encoder_params layout), numpy
  vocab_path: str  # the vocabulary it was trained with
  whole_model: bool = False  # params are the whole model's (an MLM with its head), not the encoder


def load(objective_cfg) -> Teacher:
  """The teacher's config, encoder parameters (host numpy) and vocabulary."""
  model_cfg, params = _read(objective_cfg, need_head=False)
  encoder = models.family(model_cfg).encoder_params(model_cfg, params)
  return Teacher(model_cfg, jax.tree.map(np.asarray, encoder), teacher.vocab_path(objective_cfg))


def load_mlm(objective_cfg) -> Teacher:
  """The teacher as a whole masked LM (its MLM head included): soft labels over the vocabulary."""
  model_cfg, params = _read(objective_cfg, need_head=True)
  return Teacher(model_cfg, jax.tree.map(np.asarray, params), teacher.vocab_path(objective_cfg),
                 whole_model=True)


def _read(objective_cfg, need_head: bool):
  """(model config, the whole parameter tree as host arrays) of the teacher."""
  key, path = teacher.source(objective_cfg)
  model_cfg = teacher.load_config(objective_cfg)
  if key == 'objective.teacher_workdir':
    config = config_lib.load_run_config(path)
    try:
      params, _ = checkpointing.restore_params(config, path)
    except (FileNotFoundError, ValueError) as e:
      raise ConfigError(f'{key}={path}: no checkpoint to read ({e})') from None
  else:
    from mlm_jax.export import hf_import  # pylint: disable=g-import-not-at-top
    fresh = nn.meta.unbox(state.init_variables(models.build(model_cfg), 8, jax.random.key(0)))
    params, missing = hf_import.load_params(path, model_cfg, jax.device_get(fresh))
    encoder_missing = [m for m in missing if not m.startswith(('mlm_head', 'cls'))]
    require(not encoder_missing, f'{key}={path}: the checkpoint lacks encoder tensors '
            f'{encoder_missing[:3]}')
    require(not need_head or len(encoder_missing) == len(missing),
            f'{key}={path}: the checkpoint has no MLM head (a masked-LM teacher is needed)')
  return model_cfg, params


def shardings(model_cfg, seq_len: int, mesh, rules, whole_model: bool = False):
  """NamedShardings of the teacher's encoder (or whole model's) parameters from their logical
  axes."""
  if whole_model:
    boxed = jax.eval_shape(lambda r: state.init_variables(models.build(model_cfg), seq_len, r),
                           jax.random.key(0))
  else:
    module = models.family(model_cfg).encoder(model_cfg, True)
    ids = jnp.zeros((1, seq_len), jnp.int32)
    boxed = jax.eval_shape(lambda r: module.init({'params': r}, ids, ids + 1, ids, ids)['params'],
                           jax.random.key(0))
  return sharding.logical_to_sharding(nn.get_partition_spec(boxed), mesh, rules)


def place(frozen: Teacher, seq_len: int, mesh, rules):
  """The teacher's parameters on the mesh (and their shardings, for jit's in_shardings)."""
  sh = shardings(frozen.model_cfg, seq_len, mesh, rules, frozen.whole_model)
  return jax.device_put(frozen.params, sh), sh
