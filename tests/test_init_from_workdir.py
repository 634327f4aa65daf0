"""Continued pre-training from another mlm_jax run (init_from.workdir, no finetune.task): the
source's architecture, vocabulary and weights, a fresh optimizer; settings that only change
how the weights are used (attention pattern, layer-wise mask removal) may differ; another
family is a one-line error."""
import jax
import numpy as np
import pytest

from mlm_jax import checkpointing, config_lib, lineage, train, validation
from mlm_jax.config_lib import ConfigError
from tests.conftest import corpus_config


@pytest.mark.slow
def test_causal_run_continues_with_unmasked_top_layer_and_mlm(shared_vocab, tmp_path):
  pre, cont = str(tmp_path / 'clm'), str(tmp_path / 'cont')
  train.run(corpus_config(shared_vocab, **{'objective.name': 'clm', 'mesh.data': 8,
                                           'model.attention_pattern': 'causal',
                                           'train.steps': 6, 'checkpoint.every_steps': 6}), pre)
  # Another width on the command line: the source's architecture wins; its vocabulary is used.
  cfg = corpus_config(shared_vocab, **{
      'init_from.workdir': pre, 'mesh.data': 8, 'model.hidden_size': 32, 'data.vocab_path': '',
      'model.attention_pattern': 'causal', 'model.bidirectional_layers': '-1',
      'train.steps': 1, 'train.learning_rate': 0.0, 'checkpoint.every_steps': 1})
  train.run(cfg, cont)
  saved = config_lib.load_run_config(cont)
  assert saved.model.hidden_size == config_lib.load_run_config(pre).model.hidden_size
  assert saved.model.bidirectional_layers == '-1' and saved.objective.name == 'mlm'
  a, _ = checkpointing.restore_params(config_lib.load_run_config(pre), pre)
  b, step = checkpointing.restore_params(saved, cont)
  assert step == 1  # learning rate 0: the continued weights are the source's
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  # The branch records its ancestor: the weights it started from (soups check it).
  assert lineage.read(pre) == [] and lineage.read(cont) == [lineage.fingerprint(a)]
  # The family comes from the source too: an objective it cannot drive is one line.
  other = corpus_config(shared_vocab, **{'init_from.workdir': pre, 'mesh.data': 8,
                                         'objective.name': 'rts',
                                         'model.name': 'bert_token_detector'})
  with pytest.raises(ConfigError, match="objective.name='rts' needs a token_detector model"):
    train.run(other, str(tmp_path / 'other'))


def test_a_tensor_the_source_lacks_is_one_line(tmp_path):
  """The safety net for sources whose tree differs (e.g. written by an older version)."""
  from mlm_jax import init_from  # pylint: disable=g-import-not-at-top
  fresh = {'encoder': {'w': np.zeros((2, 3))}, 'extra': {'b': np.zeros(3)}}
  source = {'encoder': {'w': np.ones((2, 3))}}
  cfg = corpus_config({'train': 'x', 'validation': 'x', 'vocab_path': 'x'},
                      **{'init_from.workdir': str(tmp_path)})
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(checkpointing, 'restore_params', lambda c, d: (source, 3))
    mp.setattr(config_lib, 'load_run_config', lambda d: cfg)
    with pytest.raises(ConfigError, match=f'init_from.workdir={tmp_path}: tensor extra/b is '
                                          'missing there, \\(3,\\) in this run'):
      init_from.load_params(cfg, fresh)


def test_source_without_run_config_is_one_line(tmp_path):
  c = corpus_config({'train': 'x', 'validation': 'x', 'vocab_path': 'x'},
                    **{'init_from.workdir': str(tmp_path)})
  with pytest.raises(ConfigError, match=f'init_from.workdir={tmp_path}: no config.json there'):
    validation.validate(c, 8)
