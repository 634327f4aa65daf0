"""tools/plot_metrics.py: one PNG, one curve per run in every panel."""
import json
import os
import subprocess
import sys

from mlm_jax import metrics_plot, train
from tests.conftest import REPO, tiny_config


def _run(workdir, scale: float, objective='mlm'):
  config = tiny_config(**{'objective.name': objective})
  train.write_run_config(config, str(workdir))
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w', encoding='utf-8') as f:
    for i, step in enumerate((10, 20, 30, 20, 30, 40)):  # resumed: steps 20, 30 logged twice
      stale = 5.0 if i in (1, 2) else 0.0  # the first, overwritten values differ
      f.write(json.dumps({'step': step, 'split': 'train', 'loss': scale * 9 / step + stale,
                          'mlm_accuracy': step / 100, 'learning_rate': 1e-3,
                          'tokens_per_sec': 1000.0 + step}) + '\n')
    f.write(json.dumps({'step': 40, 'split': 'eval', 'loss': scale, 'mlm_accuracy': 0.3}) + '\n')


def test_one_curve_per_run_and_metric(tmp_path):
  runs = [tmp_path / 'a', tmp_path / 'b']
  for i, w in enumerate(runs):
    w.mkdir()
    _run(w, 1.0 + i)
  out = str(tmp_path / 'plot.png')
  fig = metrics_plot.plot([str(w) for w in runs], out)
  assert os.path.getsize(out) > 10_000
  titles = [ax.get_title() for ax in fig.axes]
  assert titles == ['train loss', 'eval loss', 'train mlm_accuracy', 'learning rate', 'tokens/s']
  for ax in fig.axes:
    assert len(ax.get_lines()) == 2, ax.get_title()
  steps, losses = fig.axes[0].get_lines()[1].get_data()
  assert list(steps) == [10, 20, 30, 40]  # the resumed steps once, last record kept
  assert list(losses) == [2.0 * 9 / s for s in (10, 20, 30, 40)]


def test_tool_writes_the_png_and_refuses_a_missing_workdir(tmp_path):
  (tmp_path / 'a').mkdir()
  _run(tmp_path / 'a', 1.0)
  out = tmp_path / 'p.png'
  ok = subprocess.run([sys.executable, 'tools/plot_metrics.py', str(tmp_path / 'a'),
                       f'--out={out}'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert ok.returncode == 0 and out.exists(), ok.stderr[-1000:]
  bad = subprocess.run([sys.executable, 'tools/plot_metrics.py', str(tmp_path / 'nope'),
                        f'--out={out}'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
      f'error: {tmp_path / "nope" / "metrics.jsonl"}: no metrics; is {tmp_path / "nope"} a '
      'training workdir?']
