"""Tiny fine-tunes on 8 fake devices from a tiny pre-training run: classification, regression,
SQuAD and generative (zero-shot and trained) run, checkpoint, resume exactly and write
metrics.jsonl; bad input stops before compilation with one line."""
import json
import os
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest

from configs import glue as glue_config
from mlm_jax import checkpointing, config_lib, main
from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import evaluate, runner
from tests.conftest import REPO, SHARED_DATA
from tests.conftest import corpus_config as pretrain_config, fake_run, read_records, set_keys

GLUE = os.path.join(SHARED_DATA, 'glue')
SQUAD_DEV = os.path.join(SHARED_DATA, 'squad', 'dev-v1.1.json.gz')


@pytest.fixture(scope='module')
def pretrained(shared_vocab, tmp_path_factory):
  """A pre-training workdir (config.json, checkpoint, its vocabulary) without training: these
  tests check the fine-tuning machinery, not what pre-training learnt."""
  workdir = str(tmp_path_factory.mktemp('pre'))
  fake_run(workdir, pretrain_config(shared_vocab, **{'mesh.data': 8}), seed=0)
  return workdir


def ft_config(pre, task='sst2', **overrides):
  c = ml_collections.ConfigDict(glue_config.get_config(f'task={task}').to_dict())
  c.init_from.workdir = pre
  c.mesh.data = 8
  c.train.batch_size = c.eval.batch_size = 16
  c.train.learning_rate = 1e-3
  c.train.log_every_steps = 2
  c.checkpoint.every_steps = 2
  f = c.finetune
  f.data_dir, f.max_seq_len, f.steps = GLUE, 32, 6
  f.train_examples, f.eval_examples = 64, 40
  return set_keys(c, overrides)


@pytest.mark.slow
def test_classification_runs_and_resumes_exactly(pretrained, tmp_path):
  full, cut = str(tmp_path / 'full'), str(tmp_path / 'cut')
  result = runner.run(ft_config(pretrained), full)
  assert 0 <= result['accuracy'] <= 1 and result['score'] == result['accuracy']
  runner.run(ft_config(pretrained, **{'train.stop_at_step': 4}), cut)
  assert not os.path.exists(os.path.join(cut, runner.RESULT))
  runner.run(ft_config(pretrained), cut)  # the same command resumes from step 4
  a, b = read_records(full, 'train'), read_records(cut, 'train')
  assert [r['step'] for r in a] == [2, 4, 6] and [r['step'] for r in b] == [2, 4, 6]
  for ra, rb in zip(a, b):
    assert ra['loss'] == rb['loss'] and ra['accuracy'] == rb['accuracy']
  assert read_records(full, 'eval')[-1]['accuracy'] == read_records(cut, 'eval')[-1]['accuracy']
  with open(os.path.join(full, runner.RESULT)) as f:
    assert json.load(f)['metrics'] == result
  assert os.path.isdir(os.path.join(full, 'checkpoints', '6'))
  # The standalone scorer reproduces the final eval from the checkpoint alone.
  again = evaluate.evaluate_workdir(full)
  assert again['accuracy'] == result['accuracy'] and again['step'] == 6
  # tools/export_hf.py writes the task class, with the run's tokenizer.
  out = str(tmp_path / 'hf')
  done = subprocess.run([sys.executable, 'tools/export_hf.py', f'--workdir={full}', f'--out={out}'],
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  from transformers import AutoModelForSequenceClassification  # pylint: disable=g-import-not-at-top
  assert type(AutoModelForSequenceClassification.from_pretrained(out)).__name__ == \
      'BertForSequenceClassification'


@pytest.mark.slow
def test_stsb_regression(pretrained, tmp_path):
  result = runner.run(ft_config(pretrained, 'stsb', **{'finetune.steps': 4}), str(tmp_path / 's'))
  assert {'pearson', 'spearman', 'score'} <= set(result)


@pytest.mark.slow
def test_squad_spans(pretrained, tmp_path):
  cfg = ft_config(pretrained, **{'finetune.task': 'squad', 'finetune.train_file': SQUAD_DEV,
                                 'finetune.dev_file': SQUAD_DEV, 'finetune.steps': 4,
                                 'finetune.eval_examples': 12, 'finetune.doc_stride': 16,
                                 'finetune.max_query_len': 12, 'finetune.max_answer_len': 8})
  workdir = str(tmp_path / 'q')
  result = runner.run(cfg, workdir)
  assert 0 <= result['exact_match'] <= result['f1'] <= 100
  with open(os.path.join(workdir, 'predictions.json')) as f:
    assert len(json.load(f)) == 12


@pytest.mark.slow
def test_random_weights_keep_architecture_and_vocabulary(pretrained, tmp_path):
  """init_from.weights=False: the control run of "did pre-training pay off"."""
  pre_leaves = [np.asarray(x) for x in jax.tree.leaves(checkpointing.restore_params(
      config_lib.load_run_config(pretrained), pretrained)[0])]
  backbones = {}
  for weights in (True, False):
    workdir = str(tmp_path / f'w{weights}')
    runner.run(ft_config(pretrained, **{'init_from.weights': weights, 'finetune.steps': 1,
                                        'train.learning_rate': 0.0,
                                        'finetune.init_token_type_1_from_0': False}), workdir)
    _, _, params, _ = evaluate.restore_workdir(workdir)
    backbones[weights] = [np.asarray(x) for x in jax.tree.leaves(params['backbone'])]
    assert config_lib.load_run_config(workdir).model.hidden_size == \
        config_lib.load_run_config(pretrained).model.hidden_size
  same_shape = lambda a, b: [x for x in a if any(x.shape == y.shape and np.array_equal(x, y)
                                                 for y in b)]  # noqa: E731
  # The pre-trained encoder's tensors are all in the weights=True backbone, none in the other.
  assert len(same_shape(backbones[True], pre_leaves)) == len(backbones[True])
  assert not [x for x in same_shape(backbones[False], pre_leaves) if x.std() > 0]


def _generative(pre, **kw):
  return ft_config(pre, **{'finetune.method': 'generative', 'finetune.verbalizer': 'no,not',
                           **kw})


def test_generative_zero_shot(pretrained, tmp_path):
  zero = runner.run(_generative(pretrained, **{'finetune.zero_shot': True}), str(tmp_path / 'z'))
  assert 0 <= zero['accuracy'] <= 1
  assert read_records(str(tmp_path / 'z'), 'eval')[-1]['step'] == 0


@pytest.mark.slow
def test_generative_trained_on_the_answer_token(pretrained, tmp_path):
  cfg = _generative(pretrained)
  trained = runner.run(cfg, str(tmp_path / 't'))
  assert [r['step'] for r in read_records(str(tmp_path / 't'), 'train')] == [2, 4, 6]
  assert 0 <= trained['accuracy'] <= 1


def test_bad_label_stops_before_compile_with_one_line(pretrained, tmp_path):
  bad = tmp_path / 'train.tsv'
  bad.write_text('sentence\tlabel\nfine\t1\nodd\tpositive\n')
  with pytest.raises(ConfigError, match=f'{bad}:3: label .positive. is not in task sst2'):
    runner.run(ft_config(pretrained, **{'finetune.train_file': str(bad)}), str(tmp_path / 'b'))


def test_multi_token_verbalizer_and_missing_mlm_head(pretrained, tmp_path):
  with pytest.raises(ConfigError, match='finetune.verbalizer'):
    runner.run(ft_config(pretrained, **{'finetune.method': 'generative',
                                        'finetune.verbalizer': 'no,extraordinarily'}),
               str(tmp_path / 'v'))


def test_cli_dispatches_to_finetuning_and_errors_in_one_line(capsys, tmp_path):
  with pytest.raises(SystemExit) as exit_info:  # in-process: the same parser and error path
    main.cli(['--config=configs/glue.py:task=sst3', f'--workdir={tmp_path}/cli'])
  assert exit_info.value.code == 2
  last = capsys.readouterr().err.strip().splitlines()[-1]
  assert last.startswith('error: ') and "finetune.task='sst3' is not a GLUE task" in last
