"""finetune/distill.py (Well-Read Students' pre-trained distillation): soft-label losses on
hand-built logits, the teacher's soft labels on the training rows, a distilled fine-tune through
the GLUE harness on 8 fake devices, one-line errors."""
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import distill, runner
from tests.conftest import corpus_config, fake_run, glue_smoke_finetune


class _FixedLogits:
  """Stands in for the fine-tuning model: the batch's own 'logits'."""

  def apply(self, variables, *args, **kwargs):
    del variables, kwargs
    return self.logits


def _loss(logits, batch, regression=False, temperature=1.0):
  model = _FixedLogits()
  model.logits = jnp.asarray(logits)
  loss_fn, _ = runner.loss_fns(model, 'classification', regression, None, temperature)
  base = {'input_ids': jnp.zeros((len(logits), 4), jnp.int32), 'segment_ids': None,
          'positions': None, 'token_type_ids': None}
  return float(loss_fn({}, {**base, **batch}, None, train=False).loss)


def test_soft_targets_replace_the_labels_in_the_loss():
  logits = np.array([[2.0, -1.0], [0.5, 0.3], [-1.0, 1.5]], np.float32)
  labels = np.array([0, 1, 1])
  soft = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]], np.float32)
  gold = _loss(logits, {'label': jnp.asarray(labels)})
  one_hot = _loss(logits, {'label': jnp.asarray(labels),
                           'soft_target': jnp.asarray(np.eye(2, dtype=np.float32)[labels])})
  assert one_hot == pytest.approx(gold, rel=1e-6)  # one-hot soft labels are the gold loss
  t = 2.0
  got = _loss(logits, {'label': jnp.asarray(labels), 'soft_target': jnp.asarray(soft)},
              temperature=t)
  expected = float(optax.softmax_cross_entropy(logits / t, soft).mean())
  assert got == pytest.approx(expected, rel=1e-6)
  reg = _loss(np.array([[1.0], [2.0]], np.float32),
              {'label': jnp.asarray([0.0, 0.0]), 'soft_target': jnp.asarray([1.5, 1.0])},
              regression=True)
  assert reg == pytest.approx((0.25 + 1.0) / 2)


@pytest.fixture
def teacher_run(tmp_path, shared_vocab):
  pre = str(tmp_path / 'pre')
  fake_run(pre, corpus_config(shared_vocab), seed=0)
  teacher = str(tmp_path / 'teacher')
  glue_smoke_finetune(pre, teacher)
  return pre, teacher


@pytest.mark.slow  # a whole run: the full suite has it, the fast lane its units
def test_a_student_distils_the_teachers_soft_labels(teacher_run, tmp_path):
  pre, teacher = teacher_run
  result = glue_smoke_finetune(pre, str(tmp_path / 'student'),
                               **{'finetune.distill_from': teacher,
                                  'finetune.distill_temperature': 2.0})
  assert 0.0 <= result['score'] <= 1.0
  # the soft labels are the teacher's softmax at temperature 2 on the student's training rows
  from mlm_jax.finetune import evaluate  # pylint: disable=g-import-not-at-top
  _, data, _, _ = evaluate.restore_workdir(teacher)
  rows = {k: v[:16] for k, v in data.train.items()}
  outputs = runner.teacher_outputs(teacher, rows)
  soft = distill.soften(outputs, 2.0, regression=False)
  assert soft.shape == (16, 2)
  np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-5)
  soft1 = distill.soften(outputs, 1.0, regression=False)
  z = np.exp(outputs / 2.0)
  np.testing.assert_allclose(soft, z / z.sum(-1, keepdims=True), rtol=1e-5)
  assert np.all(np.abs(soft - 0.5) <= np.abs(soft1 - 0.5) + 1e-6)  # hotter: flatter


def test_bad_teachers_are_one_line_errors(teacher_run, tmp_path, shared_vocab):
  pre, teacher = teacher_run
  cases = (({'finetune.distill_from': '/no/such'}, 'no such directory'),
           ({'finetune.distill_from': pre}, "fine-tuned on '', not finetune.task='sst2'"),
           ({'finetune.distill_from': teacher, 'finetune.distill_temperature': 0.0},
            'distill_temperature=0.0 must be > 0'))
  for overrides, match in cases:
    with pytest.raises(ConfigError, match=match) as e:
      glue_smoke_finetune(pre, str(tmp_path / 'bad'), **overrides)
    assert '\n' not in str(e.value)
