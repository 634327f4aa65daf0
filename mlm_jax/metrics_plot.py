"""Curves of one or several runs from their metrics.jsonl: loss (train and eval), the
objective's headline metric, learning rate and throughput, one panel each, one line per run."""
import os

from mlm_jax import fs, metrics

PANELS = (('train', 'loss', 'train loss'), ('eval', 'loss', 'eval loss'),
          ('train', None, 'headline'), ('train', 'learning_rate', 'learning rate'),
          ('train', 'tokens_per_sec', 'tokens/s'))


def read_records(workdir: str) -> list[dict]:
  records = metrics.read_records(workdir)
  if not records and not fs.exists(os.path.join(workdir, 'metrics.jsonl')):
    raise FileNotFoundError(f'{os.path.join(workdir, "metrics.jsonl")}: no metrics; is '
                            f'{workdir} a training workdir?')
  return records


def headline(workdir: str, records: list[dict]) -> str:
  """The objective's declared headline metric, else the first *accuracy the run logged."""
  try:
    from mlm_jax import config_lib, objectives  # pylint: disable=g-import-not-at-top
    cfg = config_lib.load_run_config(workdir)
    return objectives.objective(cfg.objective).headline(cfg.objective)
  except Exception:  # pylint: disable=broad-except  # an older or foreign workdir: guess
    keys = sorted({k for r in records for k in r if k.endswith('accuracy')})
    return keys[0] if keys else 'loss'


def plot(workdirs: list[str], out: str, labels: list[str] | None = None):
  """Draws the panels into OUT (PNG); returns the matplotlib figure."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  labels = labels or [os.path.basename(os.path.normpath(w)) for w in workdirs]
  runs = [(label, w, read_records(w)) for label, w in zip(labels, workdirs)]
  fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4))
  for ax, (split, key, title) in zip(axes, PANELS):
    for label, workdir, records in runs:
      name = key or headline(workdir, records)
      points = [(r['step'], r[name]) for r in records if r['split'] == split and name in r]
      if points:
        ax.plot(*zip(*points), label=label, marker='o' if split == 'eval' else None,
                markersize=3)
      ax.set_title(f'{split} {name}' if key is None else title)
    ax.set_xlabel('step')
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=8)
  fig.tight_layout()
  with fs.local_dir(os.path.dirname(fs.absolute(out)), create=True) as local:
    fig.savefig(os.path.join(local, os.path.basename(out)), dpi=110)
  return fig
