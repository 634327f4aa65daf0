"""Writes a prepared corpus (tools/prepare_corpus.py): the configured source tokenized and
packed once into TFRecord shards plus a manifest (data/prepared.py reads them back)."""
import os

from mlm_jax import fs
from mlm_jax.config_lib import ConfigError
from mlm_jax.data import pipeline, prepared
from mlm_jax.data import vocab as vocab_lib


def prepare(data_cfg, workdir: str, out_dir: str, num_shards: int) -> dict:
  """Tokenizes and packs both splits of the configured source into OUT_DIR; the manifest is
  written last, so its presence marks a complete corpus."""
  d = data_cfg
  if d.task == 'prepared':
    raise ConfigError('data.task=prepared: prepare from the original source')
  source = pipeline.build_source(d, workdir)
  fs.makedirs(out_dir)
  stale = os.path.join(out_dir, prepared.MANIFEST)
  if fs.exists(stale):  # rewriting shards: the old manifest no longer describes them
    fs.remove(stale)
  path = source.vocab_path
  manifest = {'seq_len': d.seq_len, 'packing': d.packing, 'min_doc_words': d.min_doc_words,
              'vocab_path': fs.absolute(path) if fs.exists(path) else path,
              'vocab_sha256': vocab_lib.fingerprint(path),
              'source': {k: d[k] for k in ('task', 'format', 'train_files', 'validation_files',
                                           'tfds_name', 'mixture')},
              'splits': {}}
  for split in ('train', 'validation'):
    info = prepared.write_split(pipeline.unbatched_rows(source, split, d.seq_len), out_dir, split,
                       num_shards)
    info['documents'] = sum(1 for _ in pipeline.documents(d, workdir, split))
    manifest['splits'][split] = info
  prepared.write_manifest(out_dir, manifest)
  return manifest
