"""The pre-training-only MLM decoder (models/mlm_decoder.py, DrBERT/BPDec): Gradual Unmasking
Attention hides predicted keys in its first block only, the encoder-output mix, its absence
from the fine-tuning encoder, one-line errors, and 20 steps with falling loss then a GLUE
fine-tune and a Hugging Face export of the encoder."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax import models, probe, state, train, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import encoders
from mlm_jax.models import mlm_decoder
from tests.conftest import corpus_config, glue_smoke_finetune, read_records, tiny_config


def _unbox(tree):
  return jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x, tree,
                      is_leaf=lambda x: hasattr(x, 'value'))


def test_predicted_keys_ignore_unused_slots():
  flags = mlm_decoder.predicted_keys(jnp.array([[3, 5, 0, 0], [0, 0, 0, 0]]), 8)
  assert np.flatnonzero(flags[0]).tolist() == [3, 5] and not flags[1].any()


def _decoder(layers, unmask, deterministic):
  c = tiny_config(**{'model.mlm_decoder_layers': layers, 'model.mlm_decoder_unmask_fraction': unmask,
                     'model.dropout_rate': 0.0, 'model.attention_dropout_rate': 0.0}).model
  dec = mlm_decoder.MlmDecoder(c, deterministic)
  h = jax.random.normal(jax.random.key(0), (1, 10, c.hidden_size))
  seg, pos, slots = jnp.ones((1, 10), jnp.int32), jnp.arange(10)[None], jnp.array([[4, 0]])
  params = dec.init({'params': jax.random.key(1), 'dropout': jax.random.key(2)}, h, seg, pos, slots)
  run = lambda x: dec.apply(params, x, seg, pos, slots, rngs={'dropout': jax.random.key(3)})  # noqa: E731
  return run(h), run(h.at[0, 4].add(1.0))


def test_first_block_hides_predicted_keys_later_blocks_see_them():
  base, moved = _decoder(1, 0.5, deterministic=True)  # evaluation: no predicted key shown
  others = [j for j in range(10) if j != 4]
  np.testing.assert_allclose(base[0, others], moved[0, others], atol=1e-6)
  assert not np.allclose(base[0, 4], moved[0, 4])
  base, moved = _decoder(2, 0.5, deterministic=True)  # the second block sees it again
  assert not np.allclose(base[0, others], moved[0, others])
  base, moved = _decoder(1, 1.0, deterministic=False)  # training, all shown: visible at once
  assert not np.allclose(base[0, others], moved[0, others])


def test_encoder_mix_one_gives_the_plain_head_and_the_encoder_is_bert():
  c = tiny_config(**{'model.mlm_decoder_layers': 2, 'model.mlm_decoder_encoder_mix': 1.0})
  model = models.build(c.model)
  params = _unbox(state.init_variables(model, 16, jax.random.key(0)))
  ids = jax.random.randint(jax.random.key(1), (2, 16), 5, c.model.vocab_size)
  seg, pos, slots = jnp.ones_like(ids), jnp.broadcast_to(jnp.arange(16), ids.shape), ids[:, :3] % 15 + 1
  rngs = {'dropout': jax.random.key(2)}
  c.model.dropout_rate = c.model.attention_dropout_rate = 0.0
  model = models.build(c.model)
  hidden, mixed = model.apply({'params': params}, ids, seg, pos, slots, deterministic=False, rngs=rngs)
  plain = dict(params)
  del plain['mlm_decoder']
  bert_cfg = tiny_config(**{'model.dropout_rate': 0.0, 'model.attention_dropout_rate': 0.0}).model
  _, direct = models.build(bert_cfg).apply({'params': plain}, ids, seg, pos, slots)
  np.testing.assert_allclose(mixed, direct, atol=1e-4)
  _, decoded = model.apply({'params': params}, ids, seg, pos, slots)  # eval: the decoder's
  assert not np.allclose(decoded, direct, atol=1e-3)
  sub = encoders.encoder_params(c.model, params)
  assert 'mlm_decoder' not in sub
  np.testing.assert_allclose(probe.encoder_fn(c.model)(params, ids, seg, pos), hidden, atol=1e-5)


@pytest.mark.parametrize('name', ['electra', 'bert_token_detector'])
def test_families_without_the_decoder_refuse_it_in_one_line(name):
  c = tiny_config(**{'model.name': name, 'model.mlm_decoder_layers': 2})
  with pytest.raises(ConfigError, match='model.mlm_decoder_layers=2') as e:
    validation.validate(c, 8)
  assert '\n' not in str(e.value)


@pytest.mark.slow
def test_twenty_steps_fall_and_the_encoder_fine_tunes_and_exports(shared_vocab, tmp_path):
  c = corpus_config(shared_vocab, **{'model.mlm_decoder_layers': 2, 'mesh.data': 8})
  pre = str(tmp_path / 'pre')
  train.run(c, pre)
  records = read_records(pre, 'train')
  assert records[-1]['step'] == 20 and records[-1]['loss'] < records[0]['loss'] - 0.5
  assert 0 <= glue_smoke_finetune(pre, str(tmp_path / 'ft'))['accuracy'] <= 1
  import torch  # pylint: disable=g-import-not-at-top
  from transformers import AutoModelForMaskedLM  # pylint: disable=g-import-not-at-top
  from mlm_jax import checkpointing  # pylint: disable=g-import-not-at-top
  from mlm_jax.export import hf_export  # pylint: disable=g-import-not-at-top
  hf_export.export(pre, str(tmp_path / 'hf'))
  params, _ = checkpointing.restore_params(c, pre)
  ids = jnp.asarray([[2] + list(range(20, 40)) + [3]])
  ours = probe.encoder_fn(c.model)(params, ids, jnp.ones_like(ids), jnp.arange(22)[None])
  hf = AutoModelForMaskedLM.from_pretrained(str(tmp_path / 'hf')).eval()
  with torch.no_grad():
    theirs = hf.bert(torch.tensor(np.asarray(ids))).last_hidden_state.numpy()
  np.testing.assert_allclose(theirs, np.asarray(ours), atol=2e-4)
