"""8 fake CPU devices, so sharding is exercised for real; shared tiny configs and corpus."""
import os

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8').strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # noqa: E402
import pytest  # noqa: E402

from configs import base  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), 'shared', 'data')


def tiny_config(**overrides):
  """A 2-layer, 64-wide BERT on the built-in corpus; unlocked copy for the test to adjust."""
  c = base.get_base_config()
  m = c.model
  m.vocab_size, m.hidden_size, m.num_layers, m.num_heads, m.mlp_dim = 512, 64, 2, 4, 128
  m.max_positions = 64
  c.data.seq_len = 32
  c.data.vocab_size = 512
  c.data.shuffle_buffer = 256
  c.objective.max_predictions = 6
  c.train.steps = 20
  c.train.batch_size = 16
  c.train.learning_rate = 3e-3
  c.train.warmup_steps = 2
  c.train.log_every_steps = 5
  c.train.peak_flops = 1e11  # skip the matmul measurement in tests
  c.eval.every_steps = 0
  c.eval.steps = 2
  c.eval.batch_size = 16
  c.checkpoint.every_steps = 10
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
