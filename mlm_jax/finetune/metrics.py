"""GLUE's official metrics in numpy: accuracy, F1 (positive class 1), Matthews correlation,
Pearson and Spearman (average ranks for ties, as scipy)."""
import numpy as np


def accuracy(pred, label) -> float:
  return float(np.mean(np.asarray(pred) == np.asarray(label)))


def f1(pred, label) -> float:
  pred, label = np.asarray(pred) == 1, np.asarray(label) == 1
  tp = float(np.sum(pred & label))
  denom = float(np.sum(pred) + np.sum(label))
  return 2 * tp / denom if denom else 0.0


def matthews(pred, label) -> float:
  """Binary Matthews correlation coefficient; 0 when a marginal is empty (as sklearn)."""
  pred, label = np.asarray(pred) == 1, np.asarray(label) == 1
  tp, tn = float(np.sum(pred & label)), float(np.sum(~pred & ~label))
  fp, fn = float(np.sum(pred & ~label)), float(np.sum(~pred & label))
  denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
  return float((tp * tn - fp * fn) / denom) if denom else 0.0


def pearson(x, y) -> float:
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  x, y = x - x.mean(), y - y.mean()
  denom = np.sqrt(np.sum(x * x) * np.sum(y * y))
  return float(np.sum(x * y) / denom) if denom else 0.0


def rank(x) -> np.ndarray:
  """1-based ranks, ties sharing their average rank."""
  x = np.asarray(x)
  order = np.argsort(x, kind='mergesort')
  ranks = np.empty(len(x), np.float64)
  sorted_x = x[order]
  i = 0
  while i < len(x):
    j = i
    while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
      j += 1
    ranks[order[i:j + 1]] = (i + j) / 2 + 1
    i = j + 1
  return ranks


def spearman(x, y) -> float:
  return pearson(rank(x), rank(y))


def task_metrics(metric: str, pred, label) -> dict[str, float]:
  """The task's official metric(s), by the name in glue.Task.metric; `score` is what the
  GLUE table averages (the mean where a task has two numbers, as the GLUE leaderboard)."""
  if metric == 'accuracy':
    out = {'accuracy': accuracy(pred, label)}
    out['score'] = out['accuracy']
  elif metric == 'f1_accuracy':
    out = {'f1': f1(pred, label), 'accuracy': accuracy(pred, label)}
    out['score'] = (out['f1'] + out['accuracy']) / 2
  elif metric == 'matthews':
    out = {'matthews_corr': matthews(pred, label)}
    out['score'] = out['matthews_corr']
  elif metric == 'pearson_spearman':
    out = {'pearson': pearson(pred, label), 'spearman': spearman(pred, label)}
    out['score'] = (out['pearson'] + out['spearman']) / 2
  else:
    raise ValueError(f'unknown metric {metric!r}')
  return out
