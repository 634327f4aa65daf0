"""LT-SFT (mlm_jax/sparse_ft.py, sparse_ft_run.py): mask selection, sparse differences,
composition by addition, and both phases of a language and a task SFT on 8 fake devices."""
import os

import jax
import ml_collections
import numpy as np
import pytest

from configs import glue as glue_config
from mlm_jax import checkpointing, sparse_ft, sparse_ft_run
from mlm_jax.config_lib import ConfigError
from tests.conftest import SHARED_DATA, corpus_config, fake_run, read_records


def _tree(enc, norm, head):
  return {'params': {'encoder': {'dense': {'kernel': np.asarray(enc, np.float32)},
                                 'LayerNorm': {'scale': np.asarray(norm, np.float32)}},
                     'mlm_head': {'bias': np.asarray(head, np.float32)}}}


def test_select_ranks_all_eligible_entries_globally():
  theta0 = _tree([[0, 0], [0, 0]], [1, 1], [0, 0, 0])
  theta1 = _tree([[0.1, -0.5], [0.3, 0.0]], [9, 9], [5, 5, 5])
  mask = sparse_ft.select(theta0, theta1, 0.5)  # 2 of the 4 eligible entries
  assert mask['params/encoder/dense/kernel'].tolist() == [[False, True], [True, False]]
  assert not mask['params/encoder/LayerNorm/scale'].any()  # norms never free
  assert mask['params/mlm_head/bias'].all()  # heads trained dense
  with pytest.raises(ConfigError, match='keeps 0 of 4 eligible'):
    sparse_ft.select(theta0, theta1, 0.01)


def test_difference_is_sparse_and_composition_is_addition(tmp_path):
  theta0 = _tree([[1, 2], [3, 4]], [1, 1], [0, 0, 0])
  task = _tree([[1, 2.5], [3, 4]], [1, 1], [7, 8, 9])
  lang = _tree([[1, 2], [2, 4]], [1, 1], [0, 0, 0])
  phi_task, phi_lang = sparse_ft.difference(theta0, task), sparse_ft.difference(theta0, lang)
  assert sparse_ft.nonzero(phi_task) == 1 and sparse_ft.nonzero(phi_lang) == 1
  idx, values, shape = phi_task['diff']['params/encoder/dense/kernel']
  assert idx.tolist() == [1] and values.tolist() == [0.5] and shape == (2, 2)
  assert 'params/encoder/LayerNorm/scale' not in phi_task['diff']  # norms are not stored
  sparse_ft.save(phi_task, str(tmp_path / 't.npz'))
  phi_task = sparse_ft.load(str(tmp_path / 't.npz'))
  composed = sparse_ft.compose(theta0, [phi_lang, phi_task])
  flat = dict(checkpointing.flat_paths(composed))
  assert flat['params/encoder/dense/kernel'].tolist() == [[1, 2.5], [2, 4]]  # theta0 + both
  assert flat['params/mlm_head/bias'].tolist() == [7, 8, 9]  # the task's dense head
  # Addition commutes: the order of the SFTs does not matter.
  again = dict(checkpointing.flat_paths(sparse_ft.compose(theta0, [phi_task, phi_lang])))
  assert np.array_equal(again['params/encoder/dense/kernel'], flat['params/encoder/dense/kernel'])


def test_mask_file_must_match_the_model(tmp_path):
  theta = _tree([[0, 0]], [1], [0])
  sparse_ft.save_mask(sparse_ft.phase1_mask(theta), str(tmp_path / 'm.npz'))
  tree = sparse_ft.load_mask(str(tmp_path / 'm.npz'), theta)
  assert tree['params']['encoder']['dense']['kernel'].all()
  other = _tree([[0, 0, 0]], [1], [0])
  with pytest.raises(ConfigError, match='tensor params/encoder/dense/kernel is \\(1, 2\\) there'):
    sparse_ft.load_mask(str(tmp_path / 'm.npz'), other)
  with pytest.raises(ConfigError, match='train.update_mask=.*none.npz: no such file'):
    sparse_ft.load_mask(str(tmp_path / 'none.npz'), theta)


@pytest.fixture(scope='module')
def source(shared_vocab, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('pre'))
  fake_run(workdir, corpus_config(shared_vocab, **{'mesh.data': 8}), seed=0)
  return workdir


def _language_config(source, shared_vocab):
  return corpus_config(shared_vocab, **{
      'init_from.workdir': source, 'train.steps': 20, 'train.batch_size': 16,
      'train.log_every_steps': 5, 'train.warmup_steps': 2, 'train.learning_rate': 1e-3,
      'eval.every_steps': 0, 'eval.steps': 2, 'mesh.data': 8})


@pytest.fixture(scope='module')
def language_sft(source, shared_vocab, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('lang'))
  out = sparse_ft_run.run(_language_config(source, shared_vocab), workdir, density=0.05)
  return workdir, out


@pytest.mark.slow  # a training run
def test_language_sft_trains_only_its_ticket(language_sft):
  workdir, out = language_sft
  for phase in ('full', 'sparse'):
    losses = [r['loss'] for r in read_records(os.path.join(workdir, phase), 'train')]
    assert losses[-1] < losses[0], phase
  assert out['selected'] == pytest.approx(0.05 * out['eligible'], rel=0.01)
  assert 0 < out['stored'] <= out['selected']
  theta0, theta2 = sparse_ft_run.thetas(os.path.join(workdir, 'sparse'))
  mask = np.load(os.path.join(workdir, sparse_ft_run.MASK))
  before = dict(checkpointing.flat_paths(theta0))
  for path, after in checkpointing.flat_paths(theta2):
    m = mask[path.replace('/', '|')]
    # Outside the ticket nothing moved, AdamW's weight decay included.
    assert np.array_equal(np.asarray(after)[~m], np.asarray(before[path])[~m]), path


def test_procedure_refuses_bad_settings(source, shared_vocab, tmp_path):
  config = _language_config(source, shared_vocab)
  with pytest.raises(ConfigError, match='--density=1.0 must be in'):
    sparse_ft_run.run(config, str(tmp_path), 1.0)
  config.init_from.workdir = ''
  with pytest.raises(ConfigError, match='language SFT continues pre-training'):
    sparse_ft_run.run(config, str(tmp_path), 0.1)


@pytest.mark.slow
def test_task_sft_composes_with_the_language_sft(source, language_sft, tmp_path):
  from mlm_jax.finetune import evaluate  # pylint: disable=g-import-not-at-top
  ft = ml_collections.ConfigDict(glue_config.get_config('task=sst2').to_dict())
  ft.init_from.workdir = source
  ft.mesh.data = 8
  ft.train.batch_size = ft.eval.batch_size = 16
  ft.train.learning_rate = 1e-3
  ft.finetune.data_dir = os.path.join(SHARED_DATA, 'glue')
  ft.finetune.max_seq_len, ft.finetune.steps = 32, 6
  ft.finetune.train_examples, ft.finetune.eval_examples = 64, 32
  task_dir = str(tmp_path / 'task')
  out = sparse_ft_run.run(ft, task_dir, density=0.02)
  assert 0 < out['stored'] <= out['selected'] and 'accuracy' in out['sparse']
  lang_dir = language_sft[0]
  seen = {}

  def transform(cfg, params):
    seen['before'] = params
    seen['after'] = sparse_ft_run.compose_backbone(cfg, params, [lang_dir])
    return seen['after']
  scores = evaluate.evaluate_workdir(os.path.join(task_dir, 'sparse'), transform=transform)
  assert 0 <= scores['accuracy'] <= 1
  # The composition changed exactly the language ticket's entries of the backbone.
  changed = sum(int((np.asarray(a) != np.asarray(b)).sum()) for a, b in zip(
      jax.tree.leaves(seen['before']['backbone']), jax.tree.leaves(seen['after']['backbone'])))
  assert 0 < changed <= language_sft[1]['stored']
  from tools import lt_sft_compose  # pylint: disable=g-import-not-at-top
  assert lt_sft_compose.score(task_dir, [lang_dir])['accuracy'] == scores['accuracy']
  with pytest.raises(ConfigError, match='holds no sft.npz'):
    lt_sft_compose.score(task_dir, [str(tmp_path)])
