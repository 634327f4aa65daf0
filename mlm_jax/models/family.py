"""The model-family contract: everything the rest of the code may know about a family.

A family is one module under models/ that ends with `FAMILY = ModelFamily(...)`; the registry
in models/__init__.py maps config.model.name to it. Nothing outside the family's module (and
its config files) branches on its name: training, probes, fine-tuning, soups, export and FLOPs
accounting reach it through these fields.
"""
import dataclasses
import importlib
from typing import Any, Callable

import jax
from flax import linen as nn

Cfg = Any  # the config's `model` section (ml_collections.ConfigDict)

# Model interfaces: what an objective needs of a module; each family lists those it provides.
# Pairing by interface, not by name, lets a new family work with every objective that fits it.
MASKED_LM = 'masked_lm'  # __call__(ids, seg, pos, masked_positions) -> (hidden, logits (B, P, V))
TOKEN_DETECTOR = 'token_detector'  # __call__(ids, seg, pos) -> (hidden, one logit per token)
GENERATOR_DISCRIMINATOR = 'generator_discriminator'  # __call__(..., branch=generator|discriminator)


@dataclasses.dataclass(frozen=True)
class HfExport:
  """How a family's checkpoints become Hugging Face directories (transformers classes).

  WRITER is 'module:function', (run config, workdir, out, step) -> exported step; named, not
  imported, so the torch-free model code never imports export/ (which imports models)."""
  classes: tuple[str, ...]  # what transformers loads, e.g. ('BertForMaskedLM',)
  writer: str

  def export(self, config, workdir: str, out: str, step: int | None) -> int:
    module, _, function = self.writer.partition(':')
    return getattr(importlib.import_module(module), function)(config, workdir, out, step)


@dataclasses.dataclass(frozen=True)
class ModelFamily:
  """module(model_cfg) -> the pre-training Flax module; its `encode` method maps (input_ids,
  segment_ids, positions, token_type_ids, deterministic) to the downstream encoder's hidden
  states (B, L, D), and needs only the parameters `encoder_params` picks out.

  pass_flops(model_cfg, seq_len) -> forward FLOPs per token of each pass a family runs (keys
  are the family's own, e.g. 'encoder', 'mlm_head_per_prediction'); objectives compose them
  into training FLOPs (a forward+backward pass is 3x its forward).
  """
  module: Callable[[Cfg], nn.Module]
  encoder_params: Callable[[Cfg, dict], dict]
  pass_flops: Callable[[Cfg, int], dict[str, float]]
  validate: Callable[[Cfg], None]
  downstream: str  # what `encode` is, for reports: 'BERT encoder', 'discriminator', ...
  provides: tuple[str, ...] = ()  # model interfaces objectives need (objectives/objective.py)
  hf: HfExport | None = None


def encode_fn(family: ModelFamily, model_cfg) -> Callable[..., jax.Array]:
  """encode(params, batch, deterministic=True, rngs=None) -> hidden (B, L, D), with PARAMS a
  full pre-training tree or just the encoder's subtree: the one way downstream code (probes,
  fine-tuning, soups, export checks) reaches any family's encoder."""
  module = family.module(model_cfg)

  def encode(params, batch, deterministic: bool = True, rngs=None):
    sub = family.encoder_params(model_cfg, params)
    return module.apply({'params': sub}, batch['input_ids'], batch['segment_ids'],
                        batch['positions'], batch.get('token_type_ids'), deterministic,
                        rngs=rngs, method='encode')

  return encode
