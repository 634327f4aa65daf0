"""GLUE metrics equal scipy / scikit-learn on random data."""
import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from mlm_jax.finetune import metrics


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_classification_metrics_equal_sklearn(seed):
  rng = np.random.default_rng(seed)
  label, pred = rng.integers(0, 2, 500), rng.integers(0, 2, 500)
  assert metrics.accuracy(pred, label) == pytest.approx(skm.accuracy_score(label, pred))
  assert metrics.f1(pred, label) == pytest.approx(skm.f1_score(label, pred))
  assert metrics.matthews(pred, label) == pytest.approx(skm.matthews_corrcoef(label, pred))


@pytest.mark.parametrize('seed', [0, 1])
def test_correlations_equal_scipy_with_ties(seed):
  rng = np.random.default_rng(seed)
  y = np.round(rng.uniform(0, 5, 300), 1)  # many ties, as STS-B's scores
  x = y + rng.normal(0, 1, 300)
  x[:20] = 2.0
  assert metrics.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
  assert metrics.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)


def test_degenerate_cases_as_sklearn():
  assert metrics.matthews([1, 1, 1], [1, 0, 1]) == 0.0 == skm.matthews_corrcoef([1, 0, 1], [1, 1, 1])
  assert metrics.f1([0, 0], [0, 0]) == 0.0


def test_task_metrics_scores():
  out = metrics.task_metrics('f1_accuracy', [1, 0, 1, 1], [1, 0, 0, 1])
  assert out['accuracy'] == 0.75 and out['f1'] == pytest.approx(0.8)
  assert out['score'] == pytest.approx(0.775)
