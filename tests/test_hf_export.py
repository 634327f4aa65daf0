"""End to end: train briefly, export, and load the result in transformers with equal outputs."""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline

from mlm_jax import checkpointing, config_lib, train
from mlm_jax.data import vocab as vocab_lib
from mlm_jax.models import MODELS
from tests.conftest import REPO
from tests.conftest import corpus_config as _config, read_records


@pytest.fixture(scope='module')
def exported(shared_vocab, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  config = _config(shared_vocab, **{'mesh.data': 8, 'train.steps': 30})
  train.run(config, workdir)
  out = str(tmp_path_factory.mktemp('hf'))
  result = subprocess.run([sys.executable, 'tools/export_hf.py', f'--workdir={workdir}',
                           f'--out={out}'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  return workdir, out, config


@pytest.mark.slow
def test_export_directory_loads_with_auto_classes(exported):
  _, out, config = exported
  assert {'config.json', 'model.safetensors', 'tokenizer.json'} <= set(os.listdir(out))
  model = AutoModelForMaskedLM.from_pretrained(out)
  assert type(model).__name__ == 'BertForMaskedLM'
  assert model.config.vocab_size == config.model.vocab_size


@pytest.mark.slow
def test_export_writes_a_model_card_with_the_runs_numbers(exported):
  workdir, out, config = exported
  card = open(os.path.join(out, 'README.md'), encoding='utf-8').read()
  last_eval = [r for r in read_records(workdir, 'eval') if r['step'] == 30][0]
  assert card.startswith('---\nlibrary_name: transformers\n')
  assert 'exported at step 30 of 30' in card
  assert f'{config.model.num_layers} layers, hidden {config.model.hidden_size}' in card
  assert f'mlm_accuracy {last_eval["mlm_accuracy"]:.4g}' in card
  assert f'batch {config.train.batch_size}' in card


def _held_out_sentences(shared_vocab, n=8):
  with open(shared_vocab['validation'], encoding='utf-8') as f:
    return f.read().splitlines()[:n]


@pytest.mark.slow
def test_tokenizer_ids_equal_ours(exported, shared_vocab):
  _, out, _ = exported
  tok = AutoTokenizer.from_pretrained(out)
  sp = vocab_lib.load_processor(shared_vocab['vocab_path'])
  with open(shared_vocab['validation'], encoding='utf-8') as f:
    docs = f.read().splitlines()
  for doc in docs:
    assert tok(doc)['input_ids'] == [2] + sp.encode(doc) + [3]
  assert (tok.mask_token_id, tok.pad_token_id, tok.cls_token_id, tok.sep_token_id) == (4, 0, 2, 3)


@pytest.mark.slow
def test_logits_and_fill_mask_match_ours(exported, shared_vocab):
  workdir, out, config = exported
  params, _ = checkpointing.restore_params(config_lib.load_run_config(workdir), workdir)
  ours_model = MODELS['bert'].module(config.model)
  hf_model = AutoModelForMaskedLM.from_pretrained(out).eval()
  tok = AutoTokenizer.from_pretrained(out)
  fill = pipeline('fill-mask', model=hf_model, tokenizer=tok, top_k=1)
  sp = vocab_lib.load_processor(shared_vocab['vocab_path'])
  checked = 0
  apply = jax.jit(ours_model.apply)  # one compile per sentence length, not one per op
  for sentence in _held_out_sentences(shared_vocab):
    words = sentence.split()[:20]
    while len(sp.encode(' '.join(words))) > 48:  # the tiny model has 64 positions
      words = words[:-1]
    j = len(words) // 2
    left, right = ' '.join(words[:j]), ' '.join(words[j + 1:])
    text = f'{left} [MASK] {right}'
    ids = tok(text)['input_ids']
    expected = [2] + sp.encode(left) + [4] + sp.encode(right) + [3]
    assert ids == expected
    k = len(sp.encode(left))
    arr = np.array([ids], np.int32)
    _, logits = apply({'params': params}, arr, np.ones_like(arr),
                      np.arange(arr.shape[1])[None].astype(np.int32))
    with torch.no_grad():
      theirs = hf_model(input_ids=torch.tensor([ids])).logits.numpy()
    assert np.max(np.abs(np.asarray(logits) - theirs)) < 1e-4
    ours_top = int(np.asarray(logits)[0, k + 1].argmax())
    assert fill(text)[0]['token'] == ours_top
    checked += 1
  assert checked == 8


def test_export_refuses_pre_layer_norm(shared_vocab, tmp_path):
  workdir = tmp_path / 'wd'
  workdir.mkdir()
  cfg = _config(shared_vocab, **{'model.pre_layer_norm': True})
  (workdir / 'config.json').write_text(cfg.to_json())
  result = subprocess.run([sys.executable, 'tools/export_hf.py', f'--workdir={workdir}',
                           f'--out={tmp_path / "out"}'], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode != 0
  assert 'pre_layer_norm' in result.stderr.strip().splitlines()[-1]
  assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_init_from_export_reproduces_the_eval_loss(exported, shared_vocab, tmp_path):
  """export -> init_from.hf_dir: the same weights and token ids give the same eval loss."""
  workdir, out, _ = exported
  before = read_records(workdir, 'eval')[-1]
  run2 = str(tmp_path / 'again')
  after = train.run(_config(shared_vocab, **{'mesh.data': 8, 'init_from.hf_dir': out,
                                             'train.steps': 1, 'train.learning_rate': 1e-12,
                                             'train.warmup_steps': 0}), run2)
  assert after['eval_predictions'] == before['eval_predictions']
  assert after['mlm_loss'] == pytest.approx(before['mlm_loss'], rel=1e-5)
