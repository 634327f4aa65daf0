"""tools/token_only_detector.py: the token-only detector's arithmetic on hand-built labels, its
refusals, and a short ELECTRA run measured end to end."""
import numpy as np
import pytest

from mlm_jax import train
from mlm_jax.config_lib import ConfigError
from tests.conftest import electra_run_config, fake_run, tiny_config
from tools import token_only_detector as tool


def test_identity_that_decides_the_label_is_learned_and_one_that_does_not_is_not():
  rng = np.random.default_rng(0)
  ids = rng.integers(0, 10, 20_000)
  fit, scored = slice(0, 10_000), slice(10_000, None)
  # Token 3 is always replaced, every other token never: identity is the whole answer.
  decided = (ids == 3).astype(float)
  out = tool.token_only_scores(ids[fit], decided[fit], ids[scored], decided[scored], 10)
  p = decided[fit].mean()
  entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p))
  assert out['constant_loss'] == pytest.approx(entropy, rel=0.02)
  assert out['token_only_loss'] < 0.01 and out['token_only_over_constant'] < 0.03
  # Labels drawn at one rate whatever the token: identity adds nothing.
  blind = (rng.random(20_000) < 0.15).astype(float)
  out = tool.token_only_scores(ids[fit], blind[fit], ids[scored], blind[scored], 10)
  assert out['token_only_over_constant'] == pytest.approx(1.0, abs=0.01)
  assert out['replaced_fraction'] == pytest.approx(blind[scored].mean())


def test_an_unseen_token_gets_the_overall_rate():
  fit_ids, fit_labels = np.array([0, 0, 1, 1]), np.array([1.0, 1.0, 0.0, 0.0])
  out = tool.token_only_scores(fit_ids, fit_labels, np.array([2, 2]), np.array([1.0, 0.0]), 3)
  assert out['token_only_loss'] == pytest.approx(out['constant_loss'])  # both answer 0.5
  assert out['constant_loss'] == pytest.approx(np.log(2))


def test_refusals_are_one_line(tmp_path):
  workdir = str(tmp_path / 'mlm')
  fake_run(workdir, tiny_config(), seed=0)
  with pytest.raises(ConfigError, match=r"objective.name='mlm' trains no generator"):
    tool.measure(workdir)
  with pytest.raises(ConfigError, match=r'--batches=1: at least 2'):
    tool.measure(workdir, batches=1)


@pytest.mark.slow
def test_a_short_electra_run_is_measured(shared_vocab, tmp_path):
  workdir = str(tmp_path / 'electra')
  train.run(electra_run_config(shared_vocab, 'tied', **{
      'train.steps': 10, 'train.batch_size': 16, 'train.log_every_steps': 10, 'mesh.data': 8,
      'eval.every_steps': 0, 'eval.steps': 1}), workdir)
  out = tool.measure(workdir, batches=8, batch_size=32)
  assert out['step'] == 10 and out['batches'] == 8 and out['tokens_scored'] > 1000
  for name in ('generator', 'uniform'):
    o = out[name]
    p = o['replaced_fraction']
    assert 0.05 < p < 0.2, out  # ~15% masked, a few samples equal to the original
    assert o['constant_loss'] == pytest.approx(-(p * np.log(p) + (1 - p) * np.log(1 - p)),
                                               rel=0.05)
  # Uniform draws over the vocabulary are unlike the corpus's tokens: identity gives them away.
  assert out['uniform']['token_only_over_constant'] < 0.95, out
  assert np.isfinite(out['generator']['discriminator_loss'])
