"""Prepared corpora: tokenized and packed once into TFRecord shards plus manifest.json, so pod
runs read rows by file instead of re-tokenizing. The manifest pins the vocabulary (sha256) and
the sequence length; a run whose config differs is refused before anything is compiled."""
import json
import os

import tensorflow as tf

from mlm_jax import fs
from mlm_jax.config_lib import ConfigError
from mlm_jax.data import vocab as vocab_lib

MANIFEST = 'manifest.json'
FEATURES = ('input_ids', 'segment_ids', 'positions')


def _example(row: dict) -> bytes:
  feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=row[k].tolist()))
             for k in FEATURES}
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_split(rows, out_dir: str, split: str, num_shards: int) -> dict:
  """Rows round-robin into NUM_SHARDS files; returns the split's counts for the manifest.
  (TensorFlow writes local and gs:// shards alike; the manifest, written last, commits them.)"""
  tmp = [os.path.join(out_dir, f'.{split}-{i:05d}-of-{num_shards:05d}.tfrecord')
         for i in range(num_shards)]
  writers = [tf.io.TFRecordWriter(p) for p in tmp]
  n_rows = n_tokens = n_segments = 0
  for i, row in enumerate(rows):
    writers[i % num_shards].write(_example(row))
    n_rows += 1
    n_tokens += int((row['segment_ids'] != 0).sum())
    n_segments += int(((row['positions'] == 0) & (row['segment_ids'] != 0)).sum())
  for w in writers:
    w.close()
  files = []
  for p in tmp:  # renamed only once complete: a crash never leaves a shard that looks done
    final = os.path.join(out_dir, os.path.basename(p)[1:])
    tf.io.gfile.rename(p, final, overwrite=True)
    files.append(os.path.basename(final))
  return {'files': files, 'rows': n_rows, 'tokens': n_tokens, 'segments': n_segments}


def write_manifest(out_dir: str, manifest: dict) -> None:
  fs.write_text(os.path.join(out_dir, MANIFEST), json.dumps(manifest, indent=2))


def read_manifest(prepared_dir: str) -> dict:
  path = os.path.join(prepared_dir, MANIFEST)
  try:
    return json.loads(fs.read_text(path))
  except Exception as e:  # pylint: disable=broad-except  # OSError, TF's NotFound, bad JSON
    raise ConfigError(f'data.prepared_dir={prepared_dir}: unreadable {MANIFEST} ({e})') from e


def check(manifest: dict, prepared_dir: str, vocab_path: str, seq_len: int) -> dict[str, list]:
  """Refuses a corpus built for another vocabulary or length; returns split -> shard paths."""
  if manifest['seq_len'] != seq_len:
    raise ConfigError(f'data.prepared_dir={prepared_dir} holds rows of length '
                      f'{manifest["seq_len"]}, but data.seq_len={seq_len}')
  if manifest['vocab_sha256'] != vocab_lib.fingerprint(vocab_path):
    raise ConfigError(f'data.prepared_dir={prepared_dir} was tokenized with '
                      f'{manifest["vocab_path"]}, not data.vocab_path={vocab_path} '
                      '(sha256 differs)')
  files = {}
  for split, info in manifest['splits'].items():
    files[split] = [os.path.join(prepared_dir, f) for f in info['files']]
    for f in files[split]:
      if not fs.isfile(f):
        raise ConfigError(f'data.prepared_dir: shard {f} listed in {MANIFEST} is missing')
  return files
