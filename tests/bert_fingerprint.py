"""A fingerprint of the default (BERT) block: smoke-config parameters and outputs for a fixed
seed and input. tests/data/bert_smoke_fingerprint.npz was written by `python -m
tests.bert_fingerprint` at commit c890b55, before encoder blocks became configurable; rewrite
it only for a deliberate change to the default model."""
import os

import jax
import numpy as np
from flax import linen as nn

from mlm_jax.models import MODELS
from mlm_jax.state import init_variables

FIXTURE = os.path.join(os.path.dirname(__file__), 'data', 'bert_smoke_fingerprint.npz')


def inputs():
  """Two packed rows: segments of 12 and 13 tokens, then padding."""
  rng = np.random.default_rng(0)
  ids = rng.integers(5, 512, (2, 32)).astype(np.int32)
  seg = np.ones((2, 32), np.int32)
  seg[:, 12:25] = 2
  seg[:, 25:] = 0
  pos = np.concatenate([np.arange(12), np.arange(13), np.zeros(7, int)]).astype(np.int32)
  masked = np.array([[0, 5, 13], [3, 20, 24]], np.int32)
  return ids, seg, np.broadcast_to(pos, (2, 32)).copy(), masked


def fingerprint(model_cfg) -> dict[str, np.ndarray]:
  """Per parameter: its shape, float64 sum and first 16 values (init order shows in the
  values); then the hidden states and the MLM logits at three positions per row."""
  model = MODELS['bert'].module(model_cfg)
  params = nn.meta.unbox(init_variables(model, 32, jax.random.key(0)))
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    name = 'param/' + '/'.join(k.key for k in path)
    leaf = np.asarray(leaf)
    out[name + ':shape'] = np.array(leaf.shape)
    out[name + ':sum'] = np.array(leaf.astype(np.float64).sum())
    out[name + ':head'] = leaf.reshape(-1)[:16]
  hidden, logits = model.apply({'params': params}, *inputs())
  out['hidden'] = np.asarray(hidden)
  out['logits'] = np.asarray(logits)
  return out


if __name__ == '__main__':
  from tests.conftest import tiny_config
  np.savez_compressed(FIXTURE, **fingerprint(tiny_config().model))
  print(FIXTURE, os.path.getsize(FIXTURE))
