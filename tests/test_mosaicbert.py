"""MosaicBERT: its recipe as config, ALiBi attention past the training length (equal to the
reference attention written in tests/test_blocks.py), 20 steps on 8 devices, GLUE fine-tuning."""
import jax
import ml_collections
import numpy as np
import pytest
from flax import linen as nn

from mlm_jax import config_lib, models, state, validation
from mlm_jax.models import attention
from tests.conftest import glue_smoke_finetune, train_twenty_steps
from tests.test_blocks import _attention_ref


def _config(size='tiny'):
  return ml_collections.ConfigDict(
      config_lib.load_config_file(f'configs/mosaicbert.py:size={size}').to_dict())


def test_recipe_and_architecture():
  c = _config('base')
  validation.validate(c, 8)
  assert (c.objective.mask_rate, c.train.learning_rate, c.train.adam_b2, c.train.end_lr_fraction,
          c.train.batch_size, c.model.vocab_size) == (0.3, 5e-4, 0.98, 0.02, 4096, 30528)
  # optax's adamw decays by lr x weight_decay: the recipe's decoupled 1e-5 at the peak rate.
  assert c.train.learning_rate * c.train.weight_decay == pytest.approx(1e-5)
  assert c.train.warmup_steps == round(0.06 * c.train.steps)
  t = _config()
  params = state.init_variables(models.build(t.model), 16, jax.random.key(0))
  assert 'position_embeddings' not in params['embeddings']  # ALiBi: no position table
  assert {'wi_0', 'wi_1', 'wo'} <= set(params['encoder']['layers_0']['mlp'])  # GeGLU


def test_model_runs_past_its_training_length_and_alibi_attention_matches_reference():
  """A model whose rows were 16 tokens (max_positions 16) reads a 48-token row: nothing looks
  positions up, and ALiBi attention over the long row equals the reference."""
  c = _config()
  c.model.max_positions = 16
  model = models.build(c.model)
  params = state.init_variables(model, 16, jax.random.key(0))
  params = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x, params,
                        is_leaf=lambda x: hasattr(x, 'value'))
  ids = np.random.default_rng(0).integers(5, 200, (2, 48)).astype(np.int32)
  seg, pos = np.ones_like(ids), np.broadcast_to(np.arange(48), ids.shape)
  _, logits = model.apply({'params': params}, ids, seg, pos)
  assert logits.shape == (2, 48, c.model.vocab_size) and np.isfinite(np.asarray(logits)).all()
  heads, head_dim = c.model.num_heads, c.model.hidden_size // c.model.num_heads
  assert heads == 2
  module = attention.Attention(heads, head_dim, 0.0, 0.0, 0.02, np.float32, 'xla', True,
                               alibi=True)
  x = np.random.default_rng(1).normal(size=(1, 48, heads * head_dim)).astype(np.float32)
  seg1, pos1 = np.ones((1, 48), np.int32), np.arange(48)[None]
  mask = attention.pattern_mask('bidirectional', seg1, pos1, 4)
  p = jax.tree.map(lambda a: np.asarray(a) + 0.1,
                   nn.meta.unbox(module.init(jax.random.key(2), x, mask, pos1)['params']))
  got = np.asarray(module.apply({'params': p}, x, mask, pos1))
  want = _attention_ref(jax.tree.map(lambda a: np.asarray(a, np.float64), p), x.astype(np.float64),
                        seg1, 'bidirectional', 'alibi', np.array([2 ** -4, 2 ** -8]))  # 2^(-8i/2)
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_twenty_steps_on_eight_devices_and_finetunes(shared_vocab, tmp_path):
  c = _config()
  workdir = str(tmp_path / 'pre')
  records = train_twenty_steps(c, shared_vocab, workdir)
  assert records[-1]['loss'] < records[0]['loss'] - 0.3
  assert 0 <= glue_smoke_finetune(workdir, str(tmp_path / 'ft'))['accuracy'] <= 1
