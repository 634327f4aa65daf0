"""The paths that read no corpus load neither TensorFlow nor seqio: the GPU image has neither
(tools/gpu_check.sh), and a tool that starts in a second rather than five is what users run."""
import subprocess
import sys

from conftest import REPO

NO_CORPUS_MODULES = ('mlm_jax.soup', 'mlm_jax.export.hf_export', 'mlm_jax.checkpointing',
                     'mlm_jax.steps', 'mlm_jax.validation', 'mlm_jax.objectives', 'mlm_jax.optim',
                     'tools.trace_summary', 'tools.synthetic_rows', 'tools.torch_twin')


def test_no_corpus_paths_import_neither_tensorflow_nor_seqio():
  code = (f'import sys\nfor m in {NO_CORPUS_MODULES!r}: __import__(m)\n'
          "print(sorted(m for m in ('tensorflow', 'seqio') if m in sys.modules))")
  out = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip().splitlines()[-1] == '[]'
