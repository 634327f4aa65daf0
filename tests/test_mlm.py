import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax.objectives import mlm


def test_loss_and_accuracy_on_hand_built_batch():
  V = 5
  # Row 0: two predictions, both correct-argmax; row 1: one correct, one wrong, one weighted out.
  logits = np.full((2, 3, V), -10.0, np.float32)
  logits[0, 0, 1] = 10.0
  logits[0, 1, 2] = 10.0
  logits[1, 0, 3] = 0.0
  logits[1, 0, 4] = 0.0  # tie for target 3 with 4: log(2) loss; argmax picks 3 (first)
  logits[1, 1, 0] = 10.0  # target 2: wrong
  targets = np.array([[1, 2, 0], [3, 2, 1]])
  weights = np.array([[1, 1, 0], [1, 1, 0]], np.float32)
  loss, metrics = mlm.mlm_metrics(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(weights))

  def xent(row, t):
    z = row - row.max()
    return -(z[t] - np.log(np.exp(z).sum()))
  expected = np.mean([xent(logits[0, 0], 1), xent(logits[0, 1], 2), xent(logits[1, 0], 3),
                      xent(logits[1, 1], 2)])
  assert float(loss) == pytest.approx(expected, rel=1e-5)
  assert float(metrics['mlm_accuracy'][0]) == 3.0
  assert float(metrics['mlm_accuracy'][1]) == 4.0
  counts = mlm.label_counts(jnp.asarray(targets), jnp.asarray(weights), V)
  np.testing.assert_allclose(np.asarray(counts), [0, 1, 2, 1, 0])


def test_weighted_out_positions_do_not_change_loss():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 4, 7)).astype(np.float32)
  targets = rng.integers(0, 7, (2, 4))
  weights = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], np.float32)
  loss_a, _ = mlm.mlm_metrics(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(weights))
  logits[:, 2:] = 99.0
  loss_b, _ = mlm.mlm_metrics(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(weights))
  assert float(loss_a) == float(loss_b)
