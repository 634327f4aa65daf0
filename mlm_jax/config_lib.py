"""Config helpers: the one-line error types, variant strings, model-size presets and the run
config a workdir keeps. Validation lives with each package (mlm_jax/validation.py runs it)."""
import importlib.util
import json
import os

import ml_collections


class ConfigError(ValueError):
  """A bad setting; its message is one line naming the key, value or file at fault."""


def require(ok: bool, message: str) -> None:
  """Raises ConfigError(MESSAGE) unless OK: every config check's one-line refusal."""
  if not ok:
    raise ConfigError(message)


class RunError(RuntimeError):
  """A run that must stop (non-finite loss under the stop policy); one-line message."""


# (layers, hidden, heads); mlp = 4 * hidden. BERT paper and Well-Read Students sizes.
BERT_SIZES = {
    'tiny': (2, 128, 2),
    'mini': (4, 256, 4),
    'small': (4, 512, 8),
    'medium': (8, 512, 8),
    'base': (12, 768, 12),
    'large': (24, 1024, 16),
}


def parse_variant(arg: str | None, defaults: dict) -> dict:
  """Parses 'size=base,seq_len=512,debug' into a dict over `defaults`' keys.

  A bare word sets a boolean key to True. Values are cast to the default's type.
  """
  out = dict(defaults)
  for item in filter(None, (arg or '').split(',')):
    key, _, value = item.partition('=')
    if key not in defaults:
      raise ConfigError(f'unknown config variant {key!r}; known: {sorted(defaults)}')
    default = defaults[key]
    if not value:
      if not isinstance(default, bool):
        raise ConfigError(f'config variant {key!r} needs a value')
      out[key] = True
    elif isinstance(default, bool):
      out[key] = value.lower() in ('1', 'true', 'yes')
    else:
      out[key] = type(default)(value)
  return out


def set_bert_size(config: ml_collections.ConfigDict, size: str) -> None:
  if size not in BERT_SIZES:
    raise ConfigError(f'unknown model size {size!r}; known: {list(BERT_SIZES)}')
  layers, hidden, heads = BERT_SIZES[size]
  config.model.num_layers = layers
  config.model.hidden_size = hidden
  config.model.num_heads = heads
  config.model.mlp_dim = 4 * hidden


def load_config_file(spec: str, repo_root: str = '') -> ml_collections.ConfigDict:
  """'configs/NAME.py[:variant]' (as --config takes it; relative paths from REPO_ROOT) ->
  get_config(variant)."""
  path, _, arg = spec.partition(':')
  path = os.path.join(repo_root, path) if repo_root and not os.path.isabs(path) else path
  if not os.path.isfile(path):
    raise ConfigError(f'{path}: no such config file')
  module_spec = importlib.util.spec_from_file_location(
      'mlm_jax_config_' + os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


RUN_CONFIG = 'config.json'  # the resolved config train.run writes into every workdir


BASE_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           'configs', 'base.py')


def _overlay(defaults: dict, saved: dict) -> dict:
  out = dict(defaults)
  for key, value in saved.items():
    both_dicts = isinstance(value, dict) and isinstance(defaults.get(key), dict)
    out[key] = _overlay(defaults[key], value) if both_dicts else value
  return out


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a workdir was trained with (export, soups, probes and fine-tuning read it).
  Keys added to configs/base.py after the run was written take their defaults, which keep the
  behaviour the run had (a new key's default is the old behaviour)."""
  from mlm_jax import fs  # pylint: disable=g-import-not-at-top
  path = os.path.join(workdir, RUN_CONFIG)
  if not fs.isfile(path):
    raise ConfigError(f'{path}: no run config; is {workdir} a training workdir?')
  saved = json.loads(fs.read_text(path))
  if os.path.isfile(BASE_CONFIG):  # a source checkout (always, for the entry point and tools)
    saved = _overlay(load_config_file(BASE_CONFIG).to_dict(), saved)
  return ml_collections.ConfigDict(saved)


def flat_keys(d: dict, prefix: str = '') -> dict:
  """{'section.key': value} of a nested config dict."""
  out = {}
  for k, v in d.items():
    out.update(flat_keys(v, f'{prefix}{k}.') if isinstance(v, dict) else {f'{prefix}{k}': v})
  return out


def differences(config: ml_collections.ConfigDict) -> list[str]:
  """KEY=VALUE for every key whose value is not configs/base.py's (what the start line prints;
  the whole config is in WORKDIR/config.json and TensorBoard's text tab)."""
  if not os.path.isfile(BASE_CONFIG):
    return []
  base = flat_keys(load_config_file(BASE_CONFIG).to_dict())
  return [f'{k}={v}' for k, v in sorted(flat_keys(config.to_dict()).items())
          if k not in base or base[k] != v]
