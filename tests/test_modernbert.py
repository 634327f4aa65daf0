"""ModernBERT: its layout on the shared block (first layer's norm skipped, local rotary base,
no biases), logits parity with transformers' ModernBertForMaskedLM both ways (export and
import), the scanned stack equal to the unrolled one, 20 steps on 8 devices, GLUE fine-tuning."""
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from mlm_jax import config_lib, models, state, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.export import convert, hf_export, hf_import, modernbert_export
from tests.conftest import glue_smoke_finetune, randomise_torch_params, train_twenty_steps

torch = pytest.importorskip('torch')
transformers = pytest.importorskip('transformers')


def _config(**model):
  c = ml_collections.ConfigDict(config_lib.load_config_file('configs/modernbert.py:size=tiny')
                                .to_dict())
  c.model.vocab_size = c.data.vocab_size = 97
  c.model.attention_window = 8  # a window shorter than the rows, so local layers are local
  c.model.num_layers = 4  # global, local, local, global
  for key, value in model.items():
    c.model[key] = value
  return c


def _params(c, seed=0):
  p = state.init_variables(models.build(c.model), 16, jax.random.key(seed))
  p = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x, p,
                   is_leaf=lambda x: hasattr(x, 'value'))
  # Non-trivial norm scales and decoder bias, so a dropped or misplaced tensor shows.
  leaves, tree = jax.tree.flatten(p)
  keys = jax.random.split(jax.random.key(seed + 1), len(leaves))
  return jax.tree.unflatten(tree, [x + 0.05 * jax.random.normal(k, x.shape)
                                   for x, k in zip(leaves, keys)])


def _inputs(B=3, L=24, seed=0):
  rng = np.random.default_rng(seed)
  ids = rng.integers(5, 97, (B, L)).astype(np.int32)
  mask = np.ones((B, L), np.int32)
  mask[1, 17:] = 0  # a padded row
  ids[mask == 0] = 0
  return ids, mask


def _ours(c, params, ids, mask):
  pos = np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
  _, logits = models.build(c.model).apply({'params': params}, ids, mask, pos)
  return np.asarray(logits)


def _hf_model(c, tensors):
  cfg = transformers.ModernBertConfig(attn_implementation='eager', **{
      k: v for k, v in modernbert_export.hf_config(c.model, {'pad': 0, 'cls': 2, 'sep': 3}).items()
      if k not in ('architectures', 'model_type')})
  model = transformers.ModernBertForMaskedLM(cfg)
  if tensors is not None:
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=False)
    assert not unexpected and set(missing) <= {'decoder.weight'}, (missing, unexpected)
    model.tie_weights()
  return model.eval()


def _hf_logits(model, ids, mask):
  with torch.no_grad():
    out = model(input_ids=torch.from_numpy(ids.astype(np.int64)),
                attention_mask=torch.from_numpy(mask.astype(np.int64)))
  return out.logits.numpy()


def test_export_parity_with_transformers():
  c = _config()
  params = _params(c)
  ids, mask = _inputs()
  hf = _hf_model(c, modernbert_export.to_hf_state_dict(params, c.model))
  assert hf.config.layer_types == ['full_attention', 'sliding_attention', 'sliding_attention',
                                   'full_attention']
  ours, theirs = _ours(c, params, ids, mask), _hf_logits(hf, ids, mask)
  real = mask.astype(bool)
  np.testing.assert_allclose(ours[real], theirs[real], atol=1e-4, rtol=1e-4)


def test_import_parity_from_a_transformers_checkpoint(tmp_path):
  c = _config()
  hf = _hf_model(c, None)
  randomise_torch_params(hf, 3)
  hf.save_pretrained(str(tmp_path))
  hf_cfg = hf_import.read_config(str(tmp_path))
  assert hf_import.imported_family(hf_cfg) == 'modernbert'
  c2 = _config(vocab_size=120, num_layers=2, attention_window=128)  # overwritten by the import
  hf_import.apply_overrides(c2, hf_cfg)
  validation.validate(c2, 1)
  assert (c2.model.num_layers, c2.model.attention_window, c2.model.local_rotary_base,
          c2.model.rotary_base) == (4, 8, 10000.0, 160000.0)
  expected = _params(c2, seed=7)
  params, missing = hf_import.load_params(str(tmp_path), c2.model, expected)
  assert missing == []
  ids, mask = _inputs(seed=1)
  real = mask.astype(bool)
  np.testing.assert_allclose(_ours(c2, params, ids, mask)[real], _hf_logits(hf, ids, mask)[real],
                             atol=1e-4, rtol=1e-4)
  # A scanned model imports the same weights, stacked.
  c3 = _config(scan_layers=True)
  scanned, _ = hf_import.load_params(str(tmp_path), c3.model, _params(c3, seed=7))
  np.testing.assert_allclose(_ours(c3, scanned, ids, mask)[real], _hf_logits(hf, ids, mask)[real],
                             atol=1e-4, rtol=1e-4)


def test_scanned_stack_equals_unrolled():
  """The scanned layers pick the first-layer norm skip and the local rotary base by flags."""
  c, cs = _config(), _config(scan_layers=True)
  params = _params(c)
  unrolled = jax.tree.map(np.asarray, params)
  stacked = convert.stack_layers(unrolled, c.model.num_layers)
  ids, mask = _inputs(seed=2)
  np.testing.assert_allclose(_ours(c, params, ids, mask), _ours(cs, stacked, ids, mask),
                             atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('remat', ['none', 'full'])
def test_first_layer_attention_norm_is_unused_and_local_base_matters(remat):
  """Layer 0 has the norm (one tree for unrolled, scanned and remat stacks) but skips it."""
  c = _config(remat_policy=remat)
  params = _params(c)
  ids, mask = _inputs(seed=3)
  changed = jax.tree.map(lambda x: x, params)
  changed['encoder']['layers_0']['attention_norm'] = {'scale': jnp.full((64,), 5.0)}
  np.testing.assert_array_equal(_ours(c, params, ids, mask), _ours(c, changed, ids, mask))
  changed['encoder']['layers_1']['attention_norm'] = {'scale': jnp.full((64,), 5.0)}
  assert np.abs(_ours(c, params, ids, mask) - _ours(c, changed, ids, mask)).max() > 1e-3
  same_base = _config(local_rotary_base=0.0)  # every layer at 160000
  assert np.abs(_ours(c, params, ids, mask) - _ours(same_base, params, ids, mask)).max() > 1e-3


@pytest.mark.parametrize('key,value', [('use_bias', True), ('mlp_kind', 'gelu'),
                                       ('attention_pattern', 'bidirectional'),
                                       ('global_attention_every', 0)])
def test_layout_keys_are_checked_in_one_line(key, value):
  c = _config(**{key: value})
  with pytest.raises(ConfigError) as e:
    validation.validate(c, 1)
  assert f'model.{key}' in str(e.value) and '\n' not in str(e.value)


def test_import_refuses_what_the_layout_cannot_hold():
  with pytest.raises(ConfigError, match='mlp_bias=True'):
    modernbert_export.model_overrides({'num_hidden_layers': 2, 'mlp_bias': True})


@pytest.mark.slow
def test_twenty_steps_export_loads_and_finetunes(shared_vocab, tmp_path):
  c = _config()
  c.model.vocab_size = 8000
  workdir = str(tmp_path / 'pre')
  records = train_twenty_steps(c, shared_vocab, workdir)
  assert records[-1]['loss'] < records[0]['loss'] - 0.3
  out = str(tmp_path / 'hf')
  hf_export.export(workdir, out)
  assert json.load(open(os.path.join(out, 'config.json')))['model_type'] == 'modernbert'
  hf = transformers.AutoModelForMaskedLM.from_pretrained(out, attn_implementation='eager').eval()
  from mlm_jax import checkpointing  # pylint: disable=g-import-not-at-top
  params, _ = checkpointing.restore_params(config_lib.load_run_config(workdir), workdir)
  ids, mask = _inputs(seed=4)
  ids = np.where(mask > 0, ids * 50, 0).astype(np.int32)
  real = mask.astype(bool)
  np.testing.assert_allclose(_ours(c, params, ids, mask)[real], _hf_logits(hf, ids, mask)[real],
                             atol=1e-4, rtol=1e-4)
  assert 0 <= glue_smoke_finetune(workdir, str(tmp_path / 'ft'))['accuracy'] <= 1
