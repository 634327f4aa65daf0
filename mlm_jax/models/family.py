"""The model-family contract: everything the rest of the code may know about a family.

A family is one module under models/ that ends with `FAMILY = ModelFamily(...)`; the registry
in models/__init__.py maps config.model.name to it. Nothing outside the family's module (and
its config files) branches on its name: training, probes, fine-tuning, soups, export and FLOPs
accounting reach it through these fields.
"""
import dataclasses
from typing import Any, Callable

import jax
from flax import linen as nn

Cfg = Any  # the config's `model` section (ml_collections.ConfigDict)


@dataclasses.dataclass(frozen=True)
class HfExport:
  """How a family's checkpoints become Hugging Face directories (transformers classes)."""
  classes: tuple[str, ...]  # what transformers loads, e.g. ('BertForMaskedLM',)
  export: Callable[[Any, str, str, int | None], int]  # (run config, workdir, out, step) -> step


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
