"""SLTrain (models/low_rank.py): parameter counts and the fixed sparse support, the kernel
(alpha/r) B A + S against a hand computation, the support shared by pre-training and fine-tuning
modules, export to a dense twin with equal outputs, 20 steps on 8 fake devices then a GLUE
fine-tune, one-line errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from mlm_jax import checkpointing, config_lib, models, state, train, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.models import low_rank
from tests.conftest import corpus_config, glue_smoke_finetune, read_records, tiny_config


def _params(c):
  return nn.meta.unbox(state.init_variables(models.build(c.model), c.data.seq_len,
                                            jax.random.key(0)))


def test_parameter_count_and_support():
  c = tiny_config(**{'model.sltrain_rank': 8, 'model.sltrain_density': 0.05})
  params = _params(c)
  q = params['encoder']['layers_0']['attention']['query']
  d, hk = 64, 64  # (64, 4 heads, 16) flattened
  assert q['sl_in'].shape == (d, 8) and q['sl_out'].shape == (8, hk)
  assert q['sl_values'].shape == (round(0.05 * d * hk),)
  wi = params['encoder']['layers_0']['mlp']['wi']
  assert wi['sl_values'].shape == (round(0.05 * 64 * 128),) and 'kernel' not in wi
  total, dense = low_rank.counts(params)
  dense_total = sum(x.size for x in jax.tree.leaves(_params(tiny_config())))
  assert dense == dense_total
  per_layer_dense = 4 * 64 * 64 + 2 * 64 * 128
  per_layer_sl = (4 * (8 * (64 + 64) + round(0.05 * 64 * 64))
                  + 2 * (8 * (64 + 128) + round(0.05 * 64 * 128)))
  assert dense - total == 2 * (per_layer_dense - per_layer_sl)  # 2 layers
  idx = low_rank.support(64, 128, 0.05, 'layers_0/mlp/wi')
  assert len(np.unique(idx)) == len(idx) == round(0.05 * 64 * 128) and np.all(np.diff(idx) > 0)
  np.testing.assert_array_equal(idx, low_rank.support(64, 128, 0.05, 'layers_0/mlp/wi'))
  assert not np.array_equal(idx, low_rank.support(64, 128, 0.05, 'layers_1/mlp/wi'))
  assert low_rank.place_key(['model', 'encoder', 'layers_3', 'mlp', 'wi']) == 'layers_3/mlp/wi'


def test_kernel_is_scaled_low_rank_plus_sparse():
  rng = np.random.default_rng(0)
  b, a = rng.normal(size=(6, 2)), rng.normal(size=(2, 5))
  idx = low_rank.support(6, 5, 0.2, 'k')
  values = rng.normal(size=(len(idx),))
  w = np.asarray(low_rank.dense_kernel(jnp.asarray(b), jnp.asarray(a), jnp.asarray(values),
                                       6, 5, 0.2, 16.0, 'k'))
  s = np.zeros(30)
  s[idx] = values
  np.testing.assert_allclose(w, 16.0 / 2 * b @ a + s.reshape(6, 5), rtol=1e-5)
  # At initialisation the output-side factor is zero: W is S alone.
  c = tiny_config(**{'model.sltrain_rank': 4})
  q = _params(c)['encoder']['layers_0']['attention']['query']
  assert float(jnp.abs(q['sl_out']).max()) == 0.0
  bound = 1 / np.sqrt(64)
  assert float(jnp.abs(q['sl_values']).max()) <= bound and float(jnp.abs(q['sl_in']).max()) <= bound


def test_the_dense_twin_with_formed_kernels_gives_the_same_outputs(tmp_path):
  """Export's view (checkpointing.restore_dense_params) equals the SLTrain model: the support
  is found again from each matrix's place, and kernels take the dense twin's shapes."""
  from tests.conftest import fake_run  # pylint: disable=g-import-not-at-top
  c = tiny_config(**{'model.sltrain_rank': 4})
  workdir = str(tmp_path / 'run')
  sl_params = fake_run(workdir, c, seed=3)
  # make the low-rank part non-zero, as after training
  sl_params = jax.tree_util.tree_map_with_path(
      lambda p, x: x + 0.01 if str(getattr(p[-1], 'key', '')) == 'sl_out' else x, sl_params)
  ckpt = checkpointing.Checkpointer(workdir, keep=2, every_steps=1)
  _, abstract = checkpointing.one_device_abstract(c)
  st = ckpt.restore(ckpt.latest_step(), abstract)
  ckpt.save(8, st.replace(params=jax.tree.map(jnp.asarray, sl_params)), force=True)
  ckpt.close()
  dense, step = checkpointing.restore_dense_params(c, workdir)
  assert step == 8
  dense_cfg = tiny_config()
  ids = jnp.asarray(np.arange(32).reshape(2, 16) % 500 + 5)
  seg, pos = jnp.ones_like(ids), jnp.broadcast_to(jnp.arange(16), ids.shape)
  masked = jnp.asarray([[1, 4], [2, 9]])
  _, sl_logits = models.build(c.model).apply({'params': sl_params}, ids, seg, pos, masked)
  _, dense_logits = models.build(dense_cfg.model).apply({'params': dense}, ids, seg, pos, masked)
  np.testing.assert_allclose(np.asarray(sl_logits), np.asarray(dense_logits), atol=1e-4)


@pytest.mark.slow  # a whole run: the full suite has it, the fast lane its units
def test_twenty_steps_on_eight_devices_then_a_glue_fine_tune(tmp_path, shared_vocab):
  c = corpus_config(shared_vocab, **{'model.sltrain_rank': 8, 'train.steps': 20,
                                     'train.log_every_steps': 5, 'mesh.data': 8})
  workdir = str(tmp_path / 'run')
  train.run(c, workdir)
  losses = [r['loss'] for r in read_records(workdir, 'train')]
  assert losses[-1] < losses[0], losses
  params, _ = checkpointing.restore_params(config_lib.load_run_config(workdir), workdir)
  assert float(np.abs(params['encoder']['layers_1']['mlp']['wo']['sl_out']).max()) > 0
  result = glue_smoke_finetune(workdir, str(tmp_path / 'ft'))
  assert 0.0 <= result['score'] <= 1.0
  # exported as a plain BertForMaskedLM with the formed kernels
  from mlm_jax.export import hf_export  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  out = str(tmp_path / 'hf')
  hf_export.export(workdir, out)
  sd = load_file(f'{out}/model.safetensors')
  assert sd['bert.encoder.layer.0.attention.self.query.weight'].shape == (64, 64)
  assert sd['bert.encoder.layer.1.intermediate.dense.weight'].shape == (128, 64)


def test_bad_settings_are_one_line_errors():
  for overrides, match in (({'model.sltrain_rank': 64}, 'sltrain_rank=64 must be in'),
                           ({'model.sltrain_rank': 4, 'model.sltrain_density': 1.0},
                            'sltrain_density=1.0 must be in'),
                           ({'model.sltrain_rank': 4, 'model.scan_layers': True},
                            'needs model.scan_layers=false')):
    with pytest.raises(ConfigError, match=match) as e:
      validation.validate(tiny_config(**overrides), 8)
    assert '\n' not in str(e.value)
