"""launch/colab_demo.ipynb runs top to bottom on CPU (tiny config): train, curves, export,
fill-mask, SST-2 fine-tune."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO, SHARED_DATA

pytestmark = pytest.mark.slow  # a kernel, a training run, an export and a fine-tune


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
  workdir = str(tmp_path / 'demo')
  monkeypatch.setenv('MLM_JAX_REPO_DIR', REPO)
  monkeypatch.setenv('MLM_JAX_NOTEBOOK_WORKDIR', workdir)
  monkeypatch.setenv('MLM_JAX_NOTEBOOK_CONFIG', 'configs/smoke.py')
  monkeypatch.setenv('GLUE_DIR', os.path.abspath(os.path.join(SHARED_DATA, 'glue')))
  nb = nbformat.read(os.path.join(REPO, 'launch', 'colab_demo.ipynb'), as_version=4)
  NotebookClient(nb, timeout=600, kernel_name='python3',
                 resources={'metadata': {'path': os.path.join(REPO, 'launch')}}).execute()
  text = '\n'.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code'
                   for o in c.get('outputs', []))
  assert 'done: step' in text  # trained
  assert os.path.isfile(f'{workdir}/curves.png')
  assert os.path.isfile(f'{workdir}_hf/README.md') and os.path.isfile(f'{workdir}_hf/config.json')
  fill_lines = [line for line in text.splitlines() if line[:1] == '0' and '.' in line[:3]]
  assert len(fill_lines) >= 5  # five fill-mask guesses with their scores
  assert os.path.isfile(f'{workdir}_sst2/finetune_result.json')
