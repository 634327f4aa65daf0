"""ELECTRA export: discriminator -> ElectraForPreTraining, generator -> ElectraForMaskedLM, with
logits parity against transformers (PyTorch, CPU), and an exported run loaded by Auto classes."""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
import torch
from flax import linen as nn
from transformers import (AutoModelForMaskedLM, AutoModelForPreTraining, ElectraConfig,
                          ElectraForMaskedLM, ElectraForPreTraining)

from mlm_jax import train
from mlm_jax.export import electra_export
from mlm_jax.models import MODELS
from mlm_jax.state import init_variables
from tests.conftest import REPO, tiny_config
from tests.conftest import electra_run_config

CASES = [  # (vocab, hidden, layers, heads, mlp, embedding, fraction, type_vocab, sharing)
    (333, 64, 2, 4, 128, 32, 0.25, 2, 'tied'),  # embeddings narrower than both encoders
    (517, 96, 1, 6, 192, 0, 1 / 3, 0, 'gdes'),  # embeddings as wide as the discriminator
]
HF_CLASSES = {'discriminator': ElectraForPreTraining, 'generator': ElectraForMaskedLM}


def _model_cfg(vocab, hidden, layers, heads, mlp, emb, frac, types, sharing):
  return tiny_config(**{
      'model.name': 'electra', 'model.vocab_size': vocab, 'model.hidden_size': hidden,
      'model.num_layers': layers, 'model.num_heads': heads, 'model.mlp_dim': mlp,
      'model.embedding_size': emb, 'model.generator_size_fraction': frac,
      'model.type_vocab_size': types, 'model.embedding_sharing': sharing,
      'model.max_positions': 64}).model


def _inputs(vocab):
  rng = np.random.default_rng(0)
  ids = rng.integers(5, vocab, (3, 24)).astype(np.int64)
  mask = np.ones_like(ids)
  mask[1, 17:] = 0
  mask[2, 9:] = 0
  return ids, mask


@pytest.mark.slow
@pytest.mark.parametrize('case', CASES)
def test_exported_parts_match_transformers(case):
  cfg = _model_cfg(*case)
  model = MODELS['electra'].module(cfg)
  params = nn.meta.unbox(jax.jit(lambda r: init_variables(model, 24, r))(jax.random.key(3)))
  leaves, tree = jax.tree.flatten(params)  # non-trivial LayerNorms, biases and GDES delta
  keys = jax.random.split(jax.random.key(4), len(leaves))
  params = jax.tree.unflatten(tree, [x + 0.05 * jax.random.normal(k, x.shape)
                                     for x, k in zip(leaves, keys)])
  sds = electra_export.to_hf_state_dicts(params, cfg)
  hf_cfgs = electra_export.hf_configs(cfg, {'pad': 0})
  ids, mask = _inputs(case[0])
  pos = np.broadcast_to(np.arange(24), ids.shape).astype(np.int32)
  valid = mask.astype(bool)
  apply = jax.jit(model.apply, static_argnames='branch')  # compiled, not op by op
  for part, cls in HF_CLASSES.items():
    hf_cfg = {k: v for k, v in hf_cfgs[part].items() if k not in ('architectures', 'model_type')}
    hf_model = cls(ElectraConfig(**hf_cfg)).eval()
    result = hf_model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                                       sds[part].items()}, strict=False)
    assert not result.missing_keys and not result.unexpected_keys, (part, result)
    with torch.no_grad():
      theirs = hf_model(input_ids=torch.from_numpy(ids),
                        attention_mask=torch.from_numpy(mask)).logits.numpy()
    ours = np.asarray(apply({'params': params}, ids.astype(np.int32), mask.astype(np.int32), pos,
                            branch=part))
    diff = np.max(np.abs(ours[valid] - theirs[valid]))
    assert diff < 1e-4, (part, diff)


@pytest.mark.slow
def test_export_of_a_run_loads_with_auto_classes(shared_vocab, tmp_path):
  workdir, out = str(tmp_path / 'run'), str(tmp_path / 'hf')
  config = electra_run_config(shared_vocab, **{'mesh.data': 8, 'train.steps': 2,
                                               'eval.steps': 1})
  train.run(config, workdir)
  result = subprocess.run([sys.executable, 'tools/export_hf.py', f'--workdir={workdir}',
                           f'--out={out}'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  disc = AutoModelForPreTraining.from_pretrained(os.path.join(out, 'discriminator'))
  gen = AutoModelForMaskedLM.from_pretrained(os.path.join(out, 'generator'))
  assert type(disc).__name__ == 'ElectraForPreTraining'
  assert type(gen).__name__ == 'ElectraForMaskedLM'
  assert gen.config.hidden_size == 16 and disc.config.hidden_size == 64
  assert gen.config.embedding_size == disc.config.embedding_size == 32
  assert os.path.isfile(os.path.join(out, 'generator', 'tokenizer.json'))
  for part in ('', 'discriminator', 'generator'):  # a card wherever transformers loads from
    assert 'objective | electra' in open(os.path.join(out, part, 'README.md')).read()
  # The generator's decoder is tied to the shared table it loaded.
  assert torch.equal(gen.generator_lm_head.weight, gen.electra.embeddings.word_embeddings.weight)
