"""Plot loss, the headline metric, learning rate and throughput of one or several runs.

python tools/plot_metrics.py /tmp/run_a /tmp/run_b --out=/tmp/runs.png
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

_OUT = flags.DEFINE_string('out', 'metrics.png', 'PNG to write.')
_LABELS = flags.DEFINE_list('labels', None, 'One label per workdir (default: directory names).')


def main(argv):
  workdirs = argv[1:]
  if not workdirs:
    sys.exit('error: name at least one workdir: tools/plot_metrics.py WORKDIR... --out=F.png')
  if _LABELS.value and len(_LABELS.value) != len(workdirs):
    sys.exit(f'error: --labels has {len(_LABELS.value)} names for {len(workdirs)} workdirs')
  from mlm_jax import metrics_plot  # pylint: disable=g-import-not-at-top
  try:
    metrics_plot.plot(workdirs, _OUT.value, _LABELS.value)
  except FileNotFoundError as e:
    sys.exit(f'error: {e}')
  print(f'wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
