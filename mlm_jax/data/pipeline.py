"""From config to host-local numpy batches, with an iterator whose position can be saved."""
import dataclasses
import glob
import os

import numpy as np
import seqio
import tensorflow as tf

from mlm_jax.config_lib import ConfigError, split_patterns
from mlm_jax.data import builtin_corpus, tasks, vocab
from mlm_jax.objectives.masking import SpecialTokens

RENAME = {'targets': 'input_ids', 'targets_segment_ids': 'segment_ids',
          'targets_positions': 'positions'}


@dataclasses.dataclass
class DataSource:
  task: seqio.Task
  tokens: SpecialTokens
  word_start: np.ndarray  # (vocab,) bool, for whole-word masking
  vocab_path: str


def cap_tf_threads(threads: int) -> None:
  """TensorFlow must not take the cores the training step runs on."""
  try:
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
  except RuntimeError:  # already initialised; per-dataset options below still apply
    pass
  tf.config.set_visible_devices([], 'GPU')


def corpus_files(data_cfg, workdir: str) -> dict[str, str]:
  if data_cfg.task == 'builtin_docs':
    return builtin_corpus.write_corpus(os.path.join(workdir, 'corpus'))
  files = {}
  for split, key in (('train', 'train_files'), ('validation', 'validation_files')):
    paths = [p for pat in split_patterns(data_cfg[key]) for p in (sorted(glob.glob(pat)) or [pat])]
    for p in paths:
      if '://' not in p and (not os.path.isfile(p) or os.path.getsize(p) == 0):
        raise ConfigError(f'data.{key}: {p} is missing or empty')
    files[split] = paths
  return files


def build_source(data_cfg, workdir: str, hf_dir: str = '') -> DataSource:
  """Corpus files, vocabulary (trained and cached in WORKDIR on first use, or the tokenizer of
  the Hugging Face checkpoint in HF_DIR) and the seqio task."""
  cap_tf_threads(data_cfg.tf_threads)
  files = corpus_files(data_cfg, workdir)
  if hf_dir:
    from mlm_jax.data import hf_vocab  # pylint: disable=g-import-not-at-top
    tok = hf_vocab.load_tokenizer(hf_dir)
    tokens = hf_vocab.special_tokens(tok)
    task = tasks.text_line_task(tasks.task_name(files, os.path.abspath(hf_dir)), files,
                                hf_vocab.HfVocabulary(tok), tokens, data_cfg.shuffle_buffer)
    return DataSource(task, tokens, hf_vocab.word_start_table(tok), hf_dir)
  vocab_path = data_cfg.vocab_path
  if not vocab_path:
    vocab_path = os.path.join(workdir, f'spm_{data_cfg.vocab_size}.model')
    if not os.path.exists(vocab_path):
      train_file = files['train'] if isinstance(files['train'], str) else files['train'][0]
      vocab.train_sentencepiece(train_file, vocab_path, data_cfg.vocab_size)
  sp = vocab.load_processor(vocab_path)
  tokens = vocab.special_tokens(sp)
  seqio_vocab = seqio.SentencePieceVocabulary(vocab_path)
  task = tasks.text_line_task(tasks.task_name(files, vocab_path), files, seqio_vocab, tokens,
                              data_cfg.shuffle_buffer)
  return DataSource(task, tokens, vocab.word_start_table(sp), vocab_path)


def make_dataset(source: DataSource, split: str, seq_len: int, host_batch: int, *,
                 train: bool, seed: int, host_index: int = 0, host_count: int = 1,
                 tf_threads: int = 1, host_sharding: str = 'documents') -> tf.data.Dataset:
  """Batches of this host's rows. Train: shuffled, repeated, full batches. Eval: one pass,
  the last batch padded with empty rows (segment id 0: nothing to predict)."""
  by_rows = host_sharding == 'rows' and host_count > 1
  ds = source.task.get_dataset(
      {'targets': seq_len}, split=split, shuffle=train, seed=seed,
      shard_info=seqio.ShardInfo(host_index, host_count) if host_count > 1 and not by_rows
      else None,
      num_epochs=None if train else 1, use_cached=False)
  if by_rows:  # read global batches, keep this host's slice of each
    ds = ds.batch(host_batch * host_count, drop_remainder=train)
    ds = ds.map(lambda b: {k: v[host_index * host_batch:(host_index + 1) * host_batch]
                           for k, v in b.items()}).unbatch()
  ds = ds.map(lambda ex: {new: tf.cast(ex[old], tf.int32) for old, new in RENAME.items()})
  if train:
    ds = ds.batch(host_batch, drop_remainder=True)
  else:
    ds = ds.padded_batch(host_batch, padded_shapes={k: [seq_len] for k in RENAME.values()})
    ds = ds.map(lambda b: {k: tf.pad(v, [[0, host_batch - tf.shape(v)[0]], [0, 0]])
                           for k, v in b.items()})
  options = tf.data.Options()
  options.deterministic = True
  options.threading.private_threadpool_size = max(tf_threads, 1)
  options.threading.max_intra_op_parallelism = 1
  # A Hugging Face tokenizer runs in tf.py_function (deterministic): let its iterator checkpoint.
  options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
  return ds.with_options(options).prefetch(2)


class BatchIterator:
  """numpy batches from a tf.data iterator whose position saves and restores exactly."""

  def __init__(self, dataset: tf.data.Dataset):
    self._iterator = iter(dataset)
    self._ckpt = tf.train.Checkpoint(iterator=self._iterator)

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in next(self._iterator).items()}

  def save(self, path_prefix: str) -> None:
    self._ckpt.write(path_prefix)

  def restore(self, path_prefix: str) -> None:
    self._ckpt.read(path_prefix).assert_consumed()
