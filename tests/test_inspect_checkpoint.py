"""checkpointing.describe and tools/inspect_checkpoint.py: metadata only, nothing restored."""
import json
import subprocess
import sys

import jax
import numpy as np

from mlm_jax import checkpointing
from tests.conftest import REPO, fake_run, tiny_config


def test_describe_lists_every_array_with_its_bytes(tmp_path):
  workdir = str(tmp_path / 'run')
  params = fake_run(workdir, tiny_config(), seed=0, step=7)
  info = checkpointing.describe(workdir)
  assert info['step'] == 7 and info['steps'] == [7]
  param_leaves = {l['path']: l for l in info['leaves'] if l['path'].startswith('params/')}
  expected = dict(checkpointing.flat_paths(params))
  assert set(param_leaves) == {f'params/{p}' for p in expected}
  for path, leaf in expected.items():
    assert param_leaves[f'params/{path}']['shape'] == list(leaf.shape)
  assert info['bytes_by_part']['params'] == sum(x.nbytes for x in jax.tree.leaves(params))
  assert info['bytes_by_part']['opt_state'] > info['bytes_by_part']['params']  # Adam's moments
  assert info['bytes_on_disk'] > 0


def test_tool_prints_json_and_refuses_a_missing_step(tmp_path):
  workdir = str(tmp_path / 'run')
  fake_run(workdir, tiny_config(), seed=0, step=7)
  ok = subprocess.run([sys.executable, 'tools/inspect_checkpoint.py', f'--workdir={workdir}',
                       '--json'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert ok.returncode == 0, ok.stderr[-1000:]
  info = json.loads(ok.stdout)
  assert info['step'] == 7 and info['config']['objective'] == 'mlm'
  assert np.isclose(info['bytes'], sum(info['bytes_by_part'].values()))
  bad = subprocess.run([sys.executable, 'tools/inspect_checkpoint.py', f'--workdir={workdir}',
                        '--step=3'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert bad.returncode != 0
  assert bad.stderr.strip().splitlines()[-1] == (
      f'error: {workdir}: no checkpoint of step 3 (steps on disk: [7])')
