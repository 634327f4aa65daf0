"""Continued pre-training from a real released checkpoint: import -> train -> export ->
transformers, with the workdir alone (its recorded vocabulary) serving the export."""
import json
import logging
import os
import shutil

import numpy as np
import pytest
import torch
import transformers

from mlm_jax import train
from mlm_jax.data import hf_vocab, workdir_vocab
from mlm_jax.export import hf_export
from tests.conftest import tiny_config

SENTENCES = ['The quick brown fox jumps over the lazy dog.',
             'Return the length (the number of items) of an object.',
             'Unicode: naïve café, 12,345.67 — done!']

pytestmark = pytest.mark.slow  # the real 6-layer MiniLM, trained and exported


def _minilm_run_config(minilm_dir, shared_vocab, **overrides):
  return tiny_config(**{
      'init_from.hf_dir': minilm_dir, 'data.task': 'files',
      'data.train_files': shared_vocab['train'], 'data.validation_files': shared_vocab['validation'],
      'data.seq_len': 64, 'objective.max_predictions': 10, 'train.steps': 1,
      'train.batch_size': 8, 'train.warmup_steps': 0, 'train.learning_rate': 0.0,
      'eval.steps': 1, 'eval.batch_size': 8, 'mesh.data': 8, **overrides})


def test_minilm_import_train_export_keeps_hidden_states(minilm_dir, shared_vocab, tmp_path,
                                                        caplog):
  workdir, out = str(tmp_path / 'run'), str(tmp_path / 'hf')
  caplog.set_level(logging.WARNING)
  train.run(_minilm_run_config(minilm_dir, shared_vocab), workdir)
  assert 'longer than the specified maximum' not in caplog.text

  recorded = workdir_vocab.recorded_path(workdir)
  assert recorded and recorded.startswith(workdir), recorded
  # The config in the workdir names no vocabulary file: export must rely on the record alone.
  assert json.load(open(os.path.join(workdir, 'config.json')))['data']['vocab_path'] == ''
  hf_export.export(workdir, out)

  tok_a = transformers.AutoTokenizer.from_pretrained(minilm_dir)
  tok_b = transformers.AutoTokenizer.from_pretrained(out)
  for text in SENTENCES:
    assert tok_a(text)['input_ids'] == tok_b(text)['input_ids'], text
  batch_a = tok_a(SENTENCES, padding=True, return_tensors='pt')
  original = transformers.AutoModel.from_pretrained(minilm_dir).eval()
  exported = transformers.AutoModel.from_pretrained(out).eval()
  with torch.no_grad():
    h_a = original(**batch_a).last_hidden_state.numpy()
    h_b = exported(**batch_a).last_hidden_state.numpy()
  mask = batch_a['attention_mask'].numpy().astype(bool)
  assert np.abs(h_a - h_b)[mask].max() < 1e-5


def test_export_from_a_moved_workdir_uses_its_own_vocabulary(minilm_dir, shared_vocab, tmp_path):
  """The workdir is self-contained: moved elsewhere, and with the Hugging Face directory it
  came from gone, it still exports with the tokenizer the run used."""
  source = tmp_path / 'minilm_copy'
  shutil.copytree(minilm_dir, source)
  workdir = str(tmp_path / 'run')
  train.run(_minilm_run_config(str(source), shared_vocab), workdir)
  moved = str(tmp_path / 'moved')
  shutil.move(workdir, moved)
  shutil.rmtree(source)
  out = str(tmp_path / 'hf')
  hf_export.export(moved, out)
  tok = transformers.AutoTokenizer.from_pretrained(out)
  reference = transformers.AutoTokenizer.from_pretrained(minilm_dir)
  assert tok(SENTENCES[1])['input_ids'] == reference(SENTENCES[1])['input_ids']


def test_long_documents_do_not_warn_about_model_max_length(minilm_dir, caplog):
  caplog.set_level(logging.WARNING)
  long_text = ' '.join(['word'] * 2000)
  tok = hf_vocab.load_tokenizer(minilm_dir)
  tok(long_text, add_special_tokens=False)  # transformers' own call warns (the control)
  assert 'longer than the specified maximum' in caplog.text
  caplog.clear()

  vocab = hf_vocab.HfVocabulary(hf_vocab.load_tokenizer(minilm_dir))  # a fresh tokenizer
  ids = vocab.encode(long_text)
  assert len(ids) == 2000
  assert 'longer than the specified maximum' not in caplog.text


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
  monkeypatch.setenv('HF_HUB_OFFLINE', '1')
