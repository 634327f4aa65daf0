"""Fine-tuned trees load into the transformers classes with equal logits (tiny random models)."""
import jax
import numpy as np
import pytest
import torch
import transformers

from mlm_jax.config_lib import ConfigError
from mlm_jax.export import finetune_export
from mlm_jax.finetune.model import FinetuneModel
from tests.conftest import tiny_config


def _cfg(name):
  c = tiny_config(**{'model.name': name}).model
  if name == 'electra':
    c.embedding_size = 32  # exercises embeddings_project
  return c


def _inputs():
  ids = np.asarray(jax.random.randint(jax.random.key(3), (3, 16), 5, 500))
  mask = np.ones_like(ids)
  mask[1, 11:] = 0
  types = np.zeros_like(ids)
  types[:, 8:] = 1
  return ids, mask, types


@pytest.mark.parametrize('name,kind,activation', [
    ('bert', 'classification', 'tanh'), ('bert', 'span', 'tanh'),
    ('bert_token_detector', 'classification', 'tanh'), ('electra', 'classification', 'gelu'),
    ('electra', 'span', 'gelu'), ('bert', 'generative', 'tanh')])
def test_logits_equal_transformers(name, kind, activation):
  cfg = _cfg(name)
  model = FinetuneModel(cfg, kind, 3, 0.1, activation)
  ids, mask, types = _inputs()
  pos = np.broadcast_to(np.arange(16), ids.shape)
  params = model.init(jax.random.key(0), ids, mask, pos, None, types)['params']
  params = jax.tree.map(lambda x: x.value if hasattr(x, 'value') else x, params,
                        is_leaf=lambda x: hasattr(x, 'value'))
  params = jax.tree.map(lambda x: x + 0.01 * jax.random.normal(jax.random.key(5), x.shape), params)
  masked = np.full((3, 1), 4)
  ours = np.asarray(model.apply({'params': params}, ids, mask, pos, masked, types))
  sd = finetune_export.to_hf_state_dict(params, cfg, kind, activation)
  hf_cfg = finetune_export.hf_config(cfg, kind, 3, False, {'pad': 0})
  klass = getattr(transformers, hf_cfg['architectures'][0])
  config_class = transformers.ElectraConfig if name == 'electra' else transformers.BertConfig
  hf = klass(config_class(**hf_cfg)).eval()
  missing, unexpected = hf.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()},
                                           strict=False)
  assert not unexpected and all('decoder' in k or 'position_ids' in k for k in missing), missing
  with torch.no_grad():
    out = hf(input_ids=torch.from_numpy(ids).long(), attention_mask=torch.from_numpy(mask).long(),
             token_type_ids=torch.from_numpy(types).long())
  if kind == 'classification':
    theirs = out.logits.numpy()
  elif kind == 'span':
    theirs = np.stack([out.start_logits.numpy(), out.end_logits.numpy()], -1)
    ours = np.where(mask[..., None] == 1, ours, theirs)  # we mask padding to -1e4
  else:
    theirs = out.logits.numpy()[np.arange(3), masked[:, 0]]
  np.testing.assert_allclose(ours, theirs, atol=2e-4, rtol=1e-4)


def test_head_without_a_transformers_equivalent_is_refused():
  with pytest.raises(ConfigError, match='head_activation'):
    finetune_export.check(_cfg('electra'), 'classification', 'tanh')
