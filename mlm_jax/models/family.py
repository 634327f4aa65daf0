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
POSITION_PREDICTOR = 'predicts_positions'  # __call__(ids, seg, pos, context) -> (h, position logits)
NGRAM_MLM = 'ngram_mlm'  # __call__(main stream, query stream, coarse positions) -> (h, fine, coarse)


@dataclasses.dataclass(frozen=True)
class HfExport:
  """How a family's checkpoints become Hugging Face directories (transformers classes).

  WRITER is 'module:function', (run config, workdir, out, step) -> exported step; named, not
  imported, so the torch-free model code never imports export/ (which imports models).
  TWIN, 'module:function' or '': model_cfg -> the config.json of classes[0] with the same
  dimensions (tools/benchmark.py --torch builds the PyTorch twin from it)."""
  classes: tuple[str, ...]  # what transformers loads, e.g. ('BertForMaskedLM',)
  writer: str
  twin: str = ''

  def export(self, config, workdir: str, out: str, step: int | None) -> int:
    module, _, function = self.writer.partition(':')
    return getattr(importlib.import_module(module), function)(config, workdir, out, step)

  def twin_config(self, model_cfg) -> dict:
    module, _, function = self.twin.partition(':')
    return getattr(importlib.import_module(module), function)(model_cfg)


@dataclasses.dataclass(frozen=True)
class ModelFamily:
  """module(model_cfg) -> the pre-training Flax module.

  encoder(model_cfg, deterministic, mlm_head=False, name=None) -> the downstream encoder as a
  module: (input_ids, segment_ids, positions, token_type_ids) -> hidden states (B, L, D), with
  `mlm_logits(h_BPD)` when mlm_head (families with has_mlm_head); encoder_params(model_cfg,
  params, mlm_head=False) derives its parameters from a pre-training tree (KeyError naming
  the missing path). Probes, fine-tuning and export use these and nothing else.

  pass_flops(model_cfg, seq_len) -> forward FLOPs per token of each pass a family runs (keys
  are the family's own, e.g. 'encoder', 'mlm_head_per_prediction'); objectives compose them
  into training FLOPs (a forward+backward pass is 3x its forward).
  """
  module: Callable[[Cfg], nn.Module]
  encoder: Callable[..., nn.Module]
  encoder_params: Callable[..., dict]
  pass_flops: Callable[[Cfg, int], dict[str, float]]
  validate: Callable[[Cfg], None]
  downstream: str  # what the encoder is, for reports: 'BERT encoder', 'discriminator', ...
  provides: tuple[str, ...] = ()  # model interfaces objectives need (objectives/objective.py)
  has_mlm_head: bool = False  # the encoder comes with an MLM head (generative classification)
  hf_layout: str = ''  # transformers model_type its fine-tuned encoders export as ('' : none)
  hf: HfExport | None = None
  # model.* values the family fixes (its validate refuses others; its config file sets them):
  # ModernBERT's block layout. Empty: any block configuration.
  layout: dict = dataclasses.field(default_factory=dict)


def need(params: dict, path: str):
  """params['a']['b'] for 'a/b'; KeyError(path) when the checkpoint lacks it."""
  node = params
  for part in path.split('/'):
    if not isinstance(node, dict) or part not in node:
      raise KeyError(path)
    node = node[part]
  return node


def encode_fn(family: ModelFamily, model_cfg) -> Callable[..., jax.Array]:
  """encode(params, batch) -> hidden (B, L, D) from a full pre-training parameter tree: the
  family's downstream encoder, deterministic."""
  module = family.encoder(model_cfg, True)

  def encode(params, batch):
    return module.apply({'params': family.encoder_params(model_cfg, params)},
                        batch['input_ids'], batch['segment_ids'], batch['positions'],
                        batch.get('token_type_ids'))

  return encode
