"""The fine-tuning command-line tools end to end, each in its own process as a user runs it:
tools/glue_table.py (seeds and the table; its cache is suite.run_one's, tested in
test_finetune_suite.py), tools/finetune_eval.py (scores a finished fine-tune from its checkpoint
alone) and tools/finetune_parity.py (the mlm_jax and PyTorch loops on one Hugging Face
checkpoint)."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, SHARED_DATA, corpus_config, fake_run

pytestmark = pytest.mark.slow  # each tool is a process of its own, with its own compiles

GLUE = os.path.join(SHARED_DATA, 'glue')
TINY_FINETUNE = ('finetune.steps=2', 'finetune.train_examples=32', 'finetune.eval_examples=24',
                 'finetune.max_seq_len=32', 'train.batch_size=16', 'eval.batch_size=8')


def _tool(*argv, timeout=600) -> str:
  done = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True,
                        timeout=timeout)
  assert done.returncode == 0, done.stderr[-3000:]
  return done.stdout


def test_glue_table_runs_seeds_and_the_scorer_agrees(shared_vocab, tmp_path):
  pre = str(tmp_path / 'pretrain')
  fake_run(pre, corpus_config(shared_vocab), seed=0)
  root = str(tmp_path / 'glue')
  argv = ['tools/glue_table.py', f'--init_from={pre}', f'--glue_dir={GLUE}', '--tasks=sst2',
          '--seeds=2', f'--workdir={root}', *(f'--set={s}' for s in TINY_FINETUNE)]
  out = _tool(*argv)
  with open(os.path.join(root, 'glue_table.json')) as f:
    table = json.load(f)
  runs = table['runs']['sst2']
  assert len(runs) == 2 and all(0 <= r['accuracy'] <= 1 for r in runs)
  row = table['summary']['tasks']['sst2']
  assert row['seeds'] == 2 and row['min'] <= row['score'] <= row['max']
  assert '| sst2 | accuracy' in out
  # Seeds differ (the fine-tuning seed draws the head and the batch order).
  seeds = [os.path.join(root, 'sst2', f'seed_{k}') for k in range(2)]
  losses = [[json.loads(line)['loss'] for line in open(os.path.join(d, 'metrics.jsonl'))
             if json.loads(line)['split'] == 'train'] for d in seeds]
  assert losses[0] != losses[1]
  # The standalone scorer reproduces seed 0's final evaluation from its checkpoint alone.
  scored = json.loads(_tool('tools/finetune_eval.py', f'--workdir={seeds[0]}'))
  assert scored['accuracy'] == runs[0]['accuracy']


def test_glue_table_names_a_bad_override_in_one_line(tmp_path):
  done = subprocess.run([sys.executable, 'tools/glue_table.py', f'--glue_dir={GLUE}',
                         '--tasks=sst2', f'--workdir={tmp_path}', '--set=finetune.nope=1'],
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode != 0
  assert done.stderr.strip().splitlines()[-1] == 'error: --set: unknown config key finetune.nope'


def _small_bert_dir(minilm_dir: str, out: str) -> str:
  """A 2-layer, 64-wide BERT with all-MiniLM-L6-v2's real WordPiece tokenizer, saved the way a
  released checkpoint is (safetensors weights, config, tokenizer files)."""
  import shutil  # pylint: disable=g-import-not-at-top
  from transformers import BertConfig, BertModel  # pylint: disable=g-import-not-at-top
  config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=128, max_position_embeddings=128)
  BertModel(config).save_pretrained(out)
  for name in ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'):
    shutil.copy(os.path.join(minilm_dir, name), out)
  return out


def test_finetune_parity_runs_both_loops_on_one_checkpoint(minilm_dir, tmp_path):
  hf_dir = _small_bert_dir(minilm_dir, str(tmp_path / 'bert'))
  root = str(tmp_path / 'parity')
  out = _tool('tools/finetune_parity.py', f'--hf_dir={hf_dir}', f'--glue_dir={GLUE}',
              '--train_examples=32', '--eval_examples=32', '--epochs=1', '--batch_size=16',
              '--seq_len=32', '--seeds=0', f'--workdir={root}')
  with open(os.path.join(root, 'parity.json')) as f:
    results = json.load(f)
  assert set(results) == {'jax/seed_0', 'torch/seed_0'}
  for r in results.values():
    assert 0 <= r['accuracy'] <= 1 and r['examples_per_sec'] > 0
  assert '| jax | ' in out and '| torch | ' in out
