"""Parity with transformers' BertForMaskedLM (PyTorch, CPU) in both directions."""
import jax
import numpy as np
import pytest
import torch
from flax import linen as nn
from transformers import BertConfig, BertForMaskedLM

from mlm_jax.config_lib import ConfigError
from mlm_jax.export import convert
from mlm_jax.models import MODELS
from mlm_jax.state import init_variables
from tests.conftest import randomise_torch_params as _randomise, tiny_config

SHAPES = [  # (vocab, hidden, layers, heads, mlp, type_vocab)
    (517, 64, 2, 4, 128, 2),
    (1001, 96, 3, 6, 200, 0),
    (333, 48, 1, 3, 96, 1),
]


def _configs(vocab, hidden, layers, heads, mlp, types, scan=False):
  ours = tiny_config(**{'model.vocab_size': vocab, 'model.hidden_size': hidden,
                        'model.num_layers': layers, 'model.num_heads': heads, 'model.mlp_dim': mlp,
                        'model.type_vocab_size': types, 'model.max_positions': 64,
                        'model.scan_layers': scan}).model
  hf = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                  num_attention_heads=heads, intermediate_size=mlp, max_position_embeddings=64,
                  type_vocab_size=max(types, 1), hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
  return ours, hf


def _inputs(vocab, seed=0):
  rng = np.random.default_rng(seed)
  ids = rng.integers(5, vocab, (3, 24)).astype(np.int64)
  mask = np.ones_like(ids)
  mask[1, 17:] = 0  # a padded row
  mask[2, 9:] = 0
  return ids, mask


def _ours_logits(model_cfg, params, ids, mask):
  model = MODELS['bert'].module(model_cfg)
  positions = np.broadcast_to(np.arange(ids.shape[1]), ids.shape).astype(np.int32)
  _, logits = model.apply({'params': params}, ids.astype(np.int32), mask.astype(np.int32),
                          positions)
  return np.asarray(logits)


def _hf_logits(hf_model, ids, mask):
  with torch.no_grad():
    return hf_model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
                    ).logits.numpy()



@pytest.mark.parametrize('shape', SHAPES)
def test_import_then_our_forward_matches_transformers(shape):
  ours_cfg, hf_cfg = _configs(*shape)
  torch.manual_seed(0)
  hf_model = BertForMaskedLM(hf_cfg).eval()
  _randomise(hf_model, 1)
  sd = {k: v.numpy() for k, v in hf_model.state_dict().items()}
  if not ours_cfg.type_vocab_size:
    sd['bert.embeddings.token_type_embeddings.weight'][:] = 0.0
  params, missing = convert.from_hf_state_dict(sd, ours_cfg)
  assert not missing
  ids, mask = _inputs(shape[0])
  ours, theirs = _ours_logits(ours_cfg, params, ids, mask), _hf_logits(hf_model, ids, mask)
  valid = mask.astype(bool)
  assert np.max(np.abs(ours[valid] - theirs[valid])) < 1e-4


@pytest.mark.parametrize('shape', [SHAPES[0], pytest.param(SHAPES[1], marks=pytest.mark.slow)])
@pytest.mark.parametrize('scan', [False, True])
def test_export_then_transformers_forward_matches_ours(shape, scan):
  ours_cfg, hf_cfg = _configs(*shape, scan=scan)
  model = MODELS['bert'].module(ours_cfg)
  params = nn.meta.unbox(init_variables(model, 24, jax.random.key(3)))
  params = jax.tree.map(lambda x: x + 0.05 * jax.random.normal(jax.random.key(4), x.shape), params)
  sd = convert.to_hf_state_dict(params, ours_cfg)
  hf_model = BertForMaskedLM(hf_cfg).eval()
  result = hf_model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()},
                                     strict=False)
  assert not result.missing_keys and not result.unexpected_keys
  ids, mask = _inputs(shape[0], seed=1)
  ours, theirs = _ours_logits(ours_cfg, params, ids, mask), _hf_logits(hf_model, ids, mask)
  valid = mask.astype(bool)
  assert np.max(np.abs(ours[valid] - theirs[valid])) < 1e-4


@pytest.mark.parametrize('scan', [False, True])
def test_export_of_import_reproduces_every_tensor(scan):
  ours_cfg, hf_cfg = _configs(*SHAPES[0], scan=scan)
  hf_model = BertForMaskedLM(hf_cfg)
  _randomise(hf_model, 2)
  sd = {k: v.numpy().copy() for k, v in hf_model.state_dict().items()}
  params, _ = convert.from_hf_state_dict(sd, ours_cfg)
  back = convert.to_hf_state_dict(params, ours_cfg)
  sd['cls.predictions.decoder.bias'] = sd['cls.predictions.bias']  # tied in transformers
  assert set(back) == set(sd)
  for name in sd:
    np.testing.assert_array_equal(back[name], sd[name], err_msg=name)


def test_shape_mismatch_names_the_tensor():
  ours_cfg, hf_cfg = _configs(*SHAPES[0])
  sd = {k: v.numpy() for k, v in BertForMaskedLM(hf_cfg).state_dict().items()}
  expected = nn.meta.unbox(init_variables(MODELS['bert'].module(ours_cfg), 24, jax.random.key(0)))
  sd['bert.encoder.layer.1.intermediate.dense.weight'] = np.zeros((7, 64), np.float32)
  with pytest.raises(ConfigError, match=r'bert\.encoder\.layer\.1\.intermediate\.dense\.weight'):
    convert.from_hf_state_dict(sd, ours_cfg, expected)


def test_missing_head_is_initialised_and_listed():
  ours_cfg, hf_cfg = _configs(*SHAPES[0])
  sd = {k: v.numpy() for k, v in BertForMaskedLM(hf_cfg).state_dict().items()
        if not k.startswith('cls.')}
  expected = nn.meta.unbox(init_variables(MODELS['bert'].module(ours_cfg), 24, jax.random.key(0)))
  params, missing = convert.from_hf_state_dict(sd, ours_cfg, expected)
  assert sorted(missing) == sorted(n for n, _, _ in convert.hf_names.MLM_HEAD)
  np.testing.assert_array_equal(params['mlm_head']['bias'], expected['mlm_head']['bias'])


def test_pre_layer_norm_export_is_refused():
  ours_cfg, _ = _configs(*SHAPES[0])
  ours_cfg.pre_layer_norm = True
  with pytest.raises(ConfigError, match='pre_layer_norm'):
    convert.check_exportable(ours_cfg)
