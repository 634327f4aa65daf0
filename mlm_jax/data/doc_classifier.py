"""A document classifier small enough to run inside the input pipeline: logistic regression on
hashed word unigrams and bigrams, the kind of linear quality classifier GPT-3 (Brown et al.
2020, App. A) and PaLM/GLaM used to score web text against curated reference text. Its score is
P(positive class): for a quality model, "looks like the reference corpus"; for a toxicity
model, "looks like the toxic examples".

Features are computed in TensorFlow (the same op in training and in the pipeline, so the hash
buckets agree); the document's logit is the bias plus the mean weight of its features (a
length-normalised bag of n-grams: our choice, so long and short documents score on one scale).
Training (tools/train_doc_classifier.py) fits the weights by L-BFGS with an L2 penalty and
class-balanced loss.
"""
import dataclasses
import io

import numpy as np
import tensorflow as tf

from mlm_jax import fs
from mlm_jax.config_lib import ConfigError

DEFAULT_BUCKETS = 2 ** 18


@dataclasses.dataclass
class DocClassifier:
  weights: np.ndarray  # (buckets,) float32
  bias: float
  label: str = ''  # what the positive class is ('quality: wikipedia vs web')

  @property
  def buckets(self) -> int:
    return int(self.weights.shape[0])


def features(text: tf.Tensor, buckets: int) -> tf.Tensor:
  """Hash ids of one document's lowercased word unigrams and bigrams (1-D int64)."""
  words = tf.strings.split(tf.strings.regex_replace(tf.strings.lower(text), r'[^\w]+', ' '))
  bigrams = tf.strings.join([words[:-1], words[1:]], ' ')
  return tf.strings.to_hash_bucket_fast(tf.concat([words, bigrams], 0), buckets)


def score_fn(model: DocClassifier):
  """text (scalar tf.string) -> P(positive) as tf.float32; no features scores sigmoid(bias)."""
  weights = tf.constant(model.weights, tf.float32)
  bias = tf.constant(model.bias, tf.float32)

  def score(text):
    ids = features(text, model.buckets)
    total = tf.reduce_sum(tf.gather(weights, ids))
    count = tf.cast(tf.size(ids), tf.float32)
    return tf.sigmoid(bias + tf.math.divide_no_nan(total, count))
  return score


def save(model: DocClassifier, path: str) -> None:
  buf = io.BytesIO()
  np.savez(buf, weights=model.weights.astype(np.float32), bias=np.float32(model.bias),
           label=np.str_(model.label))
  with fs.open(path, 'wb') as f:
    f.write(buf.getvalue())


def load(path: str, key: str) -> DocClassifier:
  """A model written by save(); errors name KEY (the config key or flag that gave PATH)."""
  if not fs.exists(path):
    raise ConfigError(f'{key}={path}: no such file')
  try:
    with fs.open(path, 'rb') as f:
      data = f.read()
    with np.load(io.BytesIO(data)) as z:
      return DocClassifier(z['weights'].astype(np.float32), float(z['bias']), str(z['label']))
  except (OSError, ValueError, KeyError) as e:
    raise ConfigError(f'{key}={path}: not a document classifier written by '
                      f'tools/train_doc_classifier.py ({type(e).__name__})') from None


def feature_ids(texts: list[str], buckets: int) -> list[np.ndarray]:
  """features() of each text, eagerly (training and tests)."""
  return [features(tf.constant(t), buckets).numpy() for t in texts]


def fit(positive: list[str], negative: list[str], buckets: int = DEFAULT_BUCKETS,
        l2: float = 1e-4, label: str = '') -> DocClassifier:
  """Class-balanced logistic regression of positive vs negative texts (L-BFGS)."""
  import scipy.optimize  # pylint: disable=g-import-not-at-top  (training only)
  if not positive or not negative:
    raise ConfigError('a document classifier needs positive and negative examples')
  ids = feature_ids(list(positive) + list(negative), buckets)
  y = np.concatenate([np.ones(len(positive)), np.zeros(len(negative))])
  sample_weight = np.where(y == 1, 0.5 / len(positive), 0.5 / len(negative))
  doc_of = np.concatenate([np.full(len(x), i) for i, x in enumerate(ids)]).astype(np.int64)
  flat = np.concatenate(ids).astype(np.int64)
  counts = np.maximum(np.array([len(x) for x in ids], np.float64), 1.0)
  per_entry = 1.0 / counts[doc_of]  # each feature's share of its document's mean

  def loss_and_grad(theta):
    w, b = theta[:-1], theta[-1]
    z = b + np.bincount(doc_of, weights=w[flat] * per_entry, minlength=len(ids))
    p = 1.0 / (1.0 + np.exp(-z))
    nll = -(sample_weight * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum()
    residual = sample_weight * (p - y)
    grad_w = np.bincount(flat, weights=residual[doc_of] * per_entry, minlength=buckets)
    return nll + 0.5 * l2 * (w @ w), np.append(grad_w + l2 * w, residual.sum())

  result = scipy.optimize.minimize(loss_and_grad, np.zeros(buckets + 1), jac=True,
                                   method='L-BFGS-B', options={'maxiter': 500})
  return DocClassifier(result.x[:-1].astype(np.float32), float(result.x[-1]), label)


def scores(model: DocClassifier, texts: list[str]) -> np.ndarray:
  """P(positive) of each text, eagerly."""
  score = score_fn(model)
  return np.array([float(score(tf.constant(t))) for t in texts], np.float32)
