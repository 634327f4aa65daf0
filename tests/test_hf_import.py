"""Starting from local Hugging Face checkpoints: RoBERTa and ELECTRA parity, WordPiece runs."""
import numpy as np
import pytest
import torch
from tokenizers import BertWordPieceTokenizer
from transformers import (BertConfig, BertForMaskedLM, BertTokenizerFast, ElectraConfig,
                          ElectraForMaskedLM, RobertaConfig, RobertaForMaskedLM)

from mlm_jax import train
from mlm_jax.config_lib import ConfigError
from mlm_jax.data import hf_vocab
from mlm_jax.export import hf_import
from mlm_jax.models import MODELS
from mlm_jax.state import init_variables
from flax import linen as nn
import jax
from tests.conftest import tiny_config
from tests.conftest import randomise_torch_params as _randomise
from tests.conftest import corpus_config as _config, read_records as _records

SMALL = dict(vocab_size=301, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=96, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _import(hf_model, tmp_path, safe=True):
  hf_model.save_pretrained(tmp_path, safe_serialization=safe)
  hf_cfg = hf_import.read_config(str(tmp_path))
  cfg = tiny_config()
  hf_import.apply_overrides(cfg, hf_cfg)
  expected = nn.meta.unbox(init_variables(MODELS['bert'].module(cfg.model), 8, jax.random.key(0)))
  params, missing = hf_import.load_params(str(tmp_path), cfg.model, expected)
  return cfg.model, params, missing


def _compare(model_cfg, params, hf_model, hf_positions_offset=0):
  ids = np.random.default_rng(0).integers(5, 300, (2, 20))
  with torch.no_grad():
    theirs = hf_model.eval()(input_ids=torch.from_numpy(ids)).logits.numpy()
  pos = np.broadcast_to(np.arange(20), ids.shape).astype(np.int32)
  _, ours = MODELS['bert'].module(model_cfg).apply({'params': params}, ids.astype(np.int32),
                                            np.ones_like(pos), pos)
  assert np.max(np.abs(np.asarray(ours) - theirs)) < 1e-4


@pytest.mark.parametrize('safe', [pytest.param(True, marks=pytest.mark.slow), False])
def test_roberta_import_matches_transformers(tmp_path, safe):
  hf = RobertaForMaskedLM(RobertaConfig(**SMALL, max_position_embeddings=66, type_vocab_size=1,
                                        pad_token_id=1, layer_norm_eps=1e-5))
  _randomise(hf, 0)
  model_cfg, params, missing = _import(hf, tmp_path, safe)
  assert not missing and model_cfg.max_positions == 64 and model_cfg.layer_norm_eps == 1e-5
  _compare(model_cfg, params, hf)


def test_electra_generator_import_matches_transformers(tmp_path):
  hf = ElectraForMaskedLM(ElectraConfig(**SMALL, embedding_size=48, max_position_embeddings=64))
  _randomise(hf, 1)
  model_cfg, params, missing = _import(hf, tmp_path)
  assert not missing
  _compare(model_cfg, params, hf)


def test_electra_embedding_projection_is_refused(tmp_path):
  hf = ElectraForMaskedLM(ElectraConfig(**SMALL, embedding_size=32, max_position_embeddings=64))
  hf.save_pretrained(tmp_path)
  with pytest.raises(ConfigError, match='embedding_size'):
    hf_import.model_overrides(hf_import.read_config(str(tmp_path)))


def test_missing_weights_file_is_named(tmp_path):
  (tmp_path / 'config.json').write_text('{"model_type": "bert"}')
  with pytest.raises(ConfigError, match='model.safetensors'):
    hf_import.read_state_dict(str(tmp_path))
  (tmp_path / 'config.json').write_text('{"model_type": "gpt2"}')
  with pytest.raises(ConfigError, match='gpt2'):
    hf_import.read_config(str(tmp_path))


@pytest.mark.slow
def test_run_from_a_wordpiece_bert_checkpoint(shared_vocab, tmp_path):
  wp = BertWordPieceTokenizer(lowercase=True)
  wp.train([shared_vocab['train']], vocab_size=600, min_frequency=2)
  hf_dir = tmp_path / 'hf'
  hf_dir.mkdir()
  wp.save_model(str(hf_dir))
  tok = BertTokenizerFast(str(hf_dir / 'vocab.txt'))
  tok.save_pretrained(hf_dir)
  hf = BertForMaskedLM(BertConfig(**{**SMALL, 'vocab_size': len(tok)}, max_position_embeddings=64))
  hf.save_pretrained(hf_dir)
  # The tokenizer, its special ids and word starts, as the pipeline will use them.
  loaded = hf_vocab.load_tokenizer(str(hf_dir))
  special = hf_vocab.special_tokens(loaded)
  assert (special.cls, special.sep, special.mask) == tuple(
      tok.convert_tokens_to_ids(['[CLS]', '[SEP]', '[MASK]']))
  starts = hf_vocab.word_start_table(loaded)
  assert not starts[tok.convert_tokens_to_ids('##s')] and starts[tok.convert_tokens_to_ids('the')]

  workdir = str(tmp_path / 'run')
  train.run(_config(shared_vocab, **{'init_from.hf_dir': str(hf_dir), 'mesh.data': 8,
                                     'objective.whole_word': True}), workdir)
  records = _records(workdir, 'train')
  assert records[-1]['loss'] < records[0]['loss']
