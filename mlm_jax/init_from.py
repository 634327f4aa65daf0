"""Continued pre-training from another mlm_jax run: init_from.workdir with finetune.task empty.

The new run takes the source run's architecture and, unless data.vocab_path is set, its
recorded vocabulary; its weights start as the source's latest checkpoint, the optimizer state
fresh. Settings that change how the same weights are used may differ (the attention pattern
and its layer-wise removal, dropout, precision, rematerialisation): e.g. a causal run continued
with model.bidirectional_layers, or an MLM run continued with another objective.
"""
import jax
import numpy as np

from mlm_jax import checkpointing, config_lib
from mlm_jax.config_lib import ConfigError
from mlm_jax.data import workdir_vocab

# Model keys the continued run may set for itself; every other one comes from the source run.
MAY_DIFFER = ('attention_pattern', 'attention_window', 'global_attention_every',
              'bidirectional_layers', 'dropout_rate', 'attention_dropout_rate', 'dtype',
              'remat_policy', 'attention_impl')


def adopt(config) -> None:
  """Sets config.model (all but MAY_DIFFER) and, if unset, data.vocab_path from the source."""
  pre_dir = config.init_from.workdir
  pre = config_lib.load_run_config(pre_dir)
  for key in config.model:
    if key in pre.model and key not in MAY_DIFFER:
      config.model[key] = pre.model[key]
  if not config.data.vocab_path:
    config.data.vocab_path = workdir_vocab.run_vocab_path(pre, pre_dir)


def load_params(config, fresh_params) -> tuple[dict, int]:
  """(the source's latest parameters, as numpy, in FRESH_PARAMS's tree; its step). A tree or
  shape that differs is a one-line error naming the first tensor at fault."""
  pre_dir = config.init_from.workdir
  params, step = checkpointing.restore_params(config_lib.load_run_config(pre_dir), pre_dir)
  want = dict(checkpointing.flat_paths(fresh_params))
  have = dict(checkpointing.flat_paths(params))
  for path in sorted(set(want) | set(have)):
    if path not in have or path not in want or np.shape(want[path]) != np.shape(have[path]):
      raise ConfigError(
          f'init_from.workdir={pre_dir}: tensor {path} is '
          f'{np.shape(have[path]) if path in have else "missing"} there, '
          f'{np.shape(want[path]) if path in want else "absent"} in this run\'s model '
          f'(model.name={config.model.name!r}); continue with the same model family')
  return jax.tree.map(np.asarray, params), step
