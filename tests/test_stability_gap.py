"""The stability-gap recipes (configs/stability_gap.py): continued pre-training from a
workdir with dense early evaluation on a general held-out set (eval.extra_sets)."""
import json
import os

import pytest

from configs import stability_gap
from mlm_jax import train, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.data import doc_classifier
from tests.conftest import SHARED_DATA, corpus_config, fake_run, read_records, set_keys

SHAKESPEARE = os.path.join(SHARED_DATA, 'pretrain', 'tinyshakespeare', 'input.txt.gz')


@pytest.fixture(scope='module')
def general_run(shared_vocab, tmp_path_factory):
  """A 'pre-trained' tiny model on the general corpus (the built-in docs)."""
  workdir = str(tmp_path_factory.mktemp('general'))
  fake_run(workdir, corpus_config(shared_vocab, **{'mesh.data': 8}), seed=0)
  return workdir


def _recipe(recipe, general_run, shared_vocab, tmp_path, **overrides):
  c = stability_gap.get_config(f'recipe={recipe},seq_len=64')
  return set_keys(c, {
      'init_from.workdir': general_run, 'data.format': 'blocks',
      'data.train_files': SHAKESPEARE, 'data.min_doc_words': 5, 'train.steps': 20,
      'train.batch_size': 16, 'train.warmup_steps': 2, 'train.log_every_steps': 5,
      'train.learning_rate': 1e-3, 'train.peak_flops': 1e11, 'eval.every_steps': 10,
      'eval.early_every_steps': 2, 'eval.early_until_step': 4, 'eval.steps': 1,
      'eval.batch_size': 16, 'mesh.data': 8, 'checkpoint.every_steps': 10,
      'data.shuffle_buffer': 256,  # the default 10,000 rows would read the whole corpus first
      'eval.extra_sets': f'general=lines:{shared_vocab["train"]}', **overrides})


def test_eval_schedule_is_dense_early_then_regular():
  e = stability_gap.get_config().eval
  e.update(every_steps=50, early_every_steps=5, early_until_step=20)
  assert [s for s in range(1, 101) if train.eval_due(s, e)] == [5, 10, 15, 20, 50, 100]


@pytest.mark.parametrize('recipe, key', [('subset_epochs', 'init_from.workdir'),
                                         ('high_quality', 'data.filter.quality_model'),
                                         ('mixture', 'data.mixture')])
def test_recipes_name_what_they_still_need(recipe, key):
  c = stability_gap.get_config(f'recipe={recipe}')
  c.data.train_files = SHAKESPEARE
  if key != 'init_from.workdir':
    c.init_from.workdir = ''
  with pytest.raises(ConfigError, match=key.split('.')[-1]) as e:
    validation.validate(c, 8)
  assert '\n' not in str(e.value)


def test_unknown_recipe_and_bad_extra_set_fail_in_one_line(tmp_path):
  with pytest.raises(ConfigError, match="recipe='all' must be one of"):
    stability_gap.get_config('recipe=all')
  c = stability_gap.get_config()
  c.init_from.workdir, c.data.train_files = '', SHAKESPEARE
  for bad, message in (('general', 'is not NAME=KIND:GLOBS'),
                       ('g=csv:x', "kind 'csv' must be one of"),
                       (f'g=lines:{tmp_path}/none*', 'entry g: no file matches')):
    c.eval.extra_sets = bad
    with pytest.raises(ConfigError, match=message):
      validation.validate(c, 8)


@pytest.mark.slow  # a training run
def test_subset_recipe_continues_with_the_general_set_evaluated_early(general_run, shared_vocab,
                                                                      tmp_path):
  workdir = str(tmp_path / 'cpt')
  train.run(_recipe('subset_epochs', general_run, shared_vocab, tmp_path), workdir)
  losses = [r['loss'] for r in read_records(workdir, 'train')]
  assert losses[-1] < losses[0]
  evals = read_records(workdir, 'eval')
  assert [r['step'] for r in evals] == [0, 2, 4, 10, 20]  # 0: the starting point
  assert all('general/mlm_accuracy' in r and 'mlm_accuracy' in r for r in evals)
  # The general set is a different corpus from the domain's held-out documents.
  assert evals[0]['general/loss'] != evals[0]['loss']
  assert json.load(open(os.path.join(workdir, 'config.json')))['data']['filter'][
      'subset_fraction'] == 0.1


@pytest.mark.slow
def test_high_quality_and_mixture_recipes_train(general_run, shared_vocab, tmp_path):
  texts = [' '.join(['the', 'king', 'lord', 'thou', 'shall'] * 4),
           ' '.join(['def', 'return', 'class', 'import', 'self'] * 4)]
  model = doc_classifier.fit(texts[:1], texts[1:], buckets=256)
  doc_classifier.save(model, str(tmp_path / 'q.npz'))
  runs = {'high_quality': {'data.filter.quality_model': str(tmp_path / 'q.npz'),
                           'data.filter.quality_threshold': 0.3},
          'mixture': {'data.mixture': f'blocks:{SHAKESPEARE}@0.8; '
                                      f'lines:{shared_vocab["train"]}@0.2'}}
  for recipe, keys in runs.items():
    workdir = str(tmp_path / recipe)
    train.run(_recipe(recipe, general_run, shared_vocab, tmp_path, **keys), workdir)
    losses = [r['loss'] for r in read_records(workdir, 'train')]
    assert losses[-1] < losses[0], recipe
