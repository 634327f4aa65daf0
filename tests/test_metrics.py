import importlib.util
import json
import sys

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mlm_jax import metrics, validation
from mlm_jax.config_lib import ConfigError
from tests.conftest import tiny_config


def test_reduce_divides_sums_by_counts():
  out = metrics.reduce({'loss': (6.0, 3.0), 'acc': (0.0, 0.0), 'label_counts': [1, 2, 3]})
  assert out['loss'] == 2.0 and out['acc'] != out['acc'] and 'label_counts' not in out


def test_writer_appends_jsonl_and_tensorboard(tmp_path):
  w = metrics.Writer(str(tmp_path))
  w.write(5, 'train', {'loss': 1.5, 'mfu': 0.3})
  w.write(5, 'eval', {'loss': 1.7})
  w.close()
  rows = [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')]
  assert rows == [{'step': 5, 'split': 'train', 'loss': 1.5, 'mfu': 0.3},
                  {'step': 5, 'split': 'eval', 'loss': 1.7}]
  assert list((tmp_path / 'tensorboard').iterdir())


def test_progress_line_and_peak():
  line = metrics.progress_line(50, 100, {'loss': 2.0, 'disc_accuracy': 0.25, 'tokens_per_sec': 1000,
                                         'mfu': 0.4}, 10.0, 50, 'disc_accuracy')
  assert 'step 50/100' in line and 'ETA 0m10s' in line and '1,000 tok/s' in line
  assert 'disc_accuracy 0.250' in line
  assert metrics.measure_peak_flops(size=256, repeats=2) > 1e8
  assert metrics.peak_flops_source(5e11) == (5e11, 'train.peak_flops')


def test_eval_line_puts_each_accuracy_beside_its_own_baseline():
  # ELECTRA's eval: the discriminator's headline with a constant answer's accuracy, the
  # generator's MLM accuracy with the most frequent token's (not beside the headline).
  values = {'loss': 2.0, 'disc_accuracy': 0.874, 'baseline_disc_accuracy': 0.873,
            'mlm_accuracy': 0.19, 'baseline_mlm_accuracy': 0.043, 'perplexity': 361.4}
  line = metrics.eval_line(10, values, 'disc_accuracy')
  assert line == ('eval step 10: loss 2.0000 | disc_accuracy 0.8740 (constant-answer baseline '
                  '0.8730) | ppl 361.4 | mlm_accuracy 0.1900 (most-frequent-token baseline 0.0430)')
  assert metrics.eval_line(3, {'loss': 1.0, 'mlm_accuracy': 0.5}, 'mlm_accuracy') == (
      'eval step 3: loss 1.0000 | mlm_accuracy 0.5000')
  # A detector's loss beside its best constant answer's: the figure that shows it learned
  # (accuracy against its baseline barely moves); part losses without a baseline stay out.
  values = {'loss': 0.37, 'baseline_loss': 0.38, 'detection_accuracy': 0.874,
            'disc_loss': 0.37, 'baseline_disc_loss': 0.38, 'gen_loss': 5.0}
  assert metrics.eval_line(4, values, 'detection_accuracy') == (
      'eval step 4: loss 0.3700 (constant-answer baseline 0.3800) | detection_accuracy 0.8740 | '
      'disc_loss 0.3700 (constant-answer baseline 0.3800)')


def test_constant_answer_loss_is_the_entropy_of_the_positive_fraction():
  labels = jnp.array([[1.0, 0.0, 0.0, 0.0, 1.0]])
  weights = jnp.array([[1.0, 1.0, 1.0, 1.0, 0.0]])  # the last token is a pad: p = 1/4
  total, n = metrics.constant_answer_loss(labels, weights)
  assert float(n) == 4
  np.testing.assert_allclose(float(total) / 4, -(0.25 * np.log(0.25) + 0.75 * np.log(0.75)),
                             rtol=1e-6)
  # The constant answer's own cross-entropy at its best logit, log(p / (1 - p)), is this figure.
  best = optax.sigmoid_binary_cross_entropy(jnp.full((1, 5), np.log(1 / 3)), labels)
  np.testing.assert_allclose(float(total) / 4, float((best * weights).sum()) / 4, rtol=1e-5)
  assert float(metrics.constant_answer_loss(jnp.zeros((1, 3)), jnp.ones((1, 3)))[0]) == 0.0


def test_an_mfu_above_one_names_the_under_measured_peak():
  """A matmul peak measured on a busy machine reads low (a shoot-out run logged 'mfu 113%')."""
  line = metrics.mfu_warning(1.13, 4.1e10, 'a matmul measured at start')
  assert line.startswith('mfu 113%: the matmul peak measured at start (41 GFLOP/s) read low')
  assert 'train.peak_flops' in line
  assert metrics.mfu_warning(0.6, 4.1e10, 'a matmul measured at start') == ''
  assert metrics.mfu_warning(1.2, 9.9e14, 'NVIDIA H100 datasheet') == ''  # not a measurement


def _tensorboard_tags(directory) -> set[str]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tags = set()
  for path in directory.iterdir():
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      tags.update(v.tag for v in event.summary.value)
  return tags


def test_writer_puts_the_config_and_hardware_in_tensorboard(tmp_path):
  w = metrics.Writer(str(tmp_path), config=tiny_config())
  w.write(1, 'train', {'loss': 2.0})
  w.close()
  tags = _tensorboard_tags(tmp_path / 'tensorboard')
  assert {'config/text_summary', 'hardware/text_summary', 'train/loss'} <= tags
  hardware = metrics.hardware_summary()
  assert hardware['devices'] == 8 and hardware['cpu']


class _FakeWandb:
  """The three calls Writer makes, recorded (wandb itself is an optional install)."""

  def __init__(self):
    self.calls = []

  def init(self, **kwargs):
    self.calls.append(('init', kwargs))
    return self

  def log(self, values, step):
    self.calls.append(('log', values, step))

  def finish(self):
    self.calls.append(('finish',))


def test_writer_logs_to_wandb_when_asked(tmp_path, monkeypatch):
  fake = _FakeWandb()
  monkeypatch.setitem(sys.modules, 'wandb', fake)
  config = tiny_config(**{'train.wandb_project': 'proj'})
  for _ in range(2):  # a resumed run continues the same W&B run
    w = metrics.Writer(str(tmp_path), config=config)
    w.write(3, 'eval', {'loss': 1.25})
    w.close()
  inits = [c[1] for c in fake.calls if c[0] == 'init']
  assert inits[0]['project'] == 'proj' and inits[0]['id'] == inits[1]['id']
  assert inits[0]['config']['model']['hidden_size'] == config.model.hidden_size
  assert ('log', {'eval/loss': 1.25}, 3) in fake.calls and fake.calls[-1] == ('finish',)


def test_wandb_project_without_wandb_is_one_line(monkeypatch):
  real = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec',
                      lambda name, *a: None if name == 'wandb' else real(name, *a))
  with pytest.raises(ConfigError, match=r"train.wandb_project='proj': wandb is not installed"):
    validation.validate(tiny_config(**{'train.wandb_project': 'proj'}), 8)


def test_the_writer_leaves_torch_unloaded_and_importable(tmp_path):
  """tensorboardX would import torch (1 s, 180 MiB) for nothing a JAX run logs."""
  import subprocess  # pylint: disable=g-import-not-at-top
  from tests.conftest import REPO  # pylint: disable=g-import-not-at-top
  code = ('import sys\nfrom mlm_jax import metrics\nw = metrics.Writer(sys.argv[1])\n'
          'w.write(1, "train", {"loss": 2.0})\nw.close()\n'
          'assert "torch" not in sys.modules, "torch loaded"\n'
          'import torch\nprint(torch.ones(2).sum().item())\n')
  out = subprocess.run([sys.executable, '-c', code, str(tmp_path)], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0 and out.stdout.strip() == '2.0', out.stderr[-2000:]
  assert list((tmp_path / 'tensorboard').glob('events.out.tfevents.*'))
