"""The vocabulary a run actually used, copied into WORKDIR/vocab/, so the workdir alone is
enough to resume, export, probe or soup the run — on another machine too, and whatever the
config said (a trained SentencePiece model, data.vocab_path, or init_from.hf_dir's tokenizer).

WORKDIR/vocab/record.json names the copy: {"kind", "file" (inside vocab/), "source"}.
"""
import json
import os

from mlm_jax import fs
from mlm_jax.data import vocab as vocab_lib

DIRECTORY = 'vocab'
RECORD = 'record.json'


def recorded_path(workdir: str) -> str | None:
  """Path of the recorded vocabulary (`byte` for the byte vocabulary), or None if the workdir
  has no record (a workdir written before records existed)."""
  record = os.path.join(workdir, DIRECTORY, RECORD)
  if not fs.isfile(record):
    return None
  entry = json.loads(fs.read_text(record))
  if entry['kind'] == 'byte':
    return vocab_lib.load('byte').path
  return os.path.join(workdir, DIRECTORY, entry['file'])


def save(voc: vocab_lib.Vocab, workdir: str) -> str:
  """Copies VOC into WORKDIR/vocab/ (once; an existing record is kept) and returns its path."""
  existing = recorded_path(workdir)
  if existing is not None:
    return existing
  directory = os.path.join(workdir, DIRECTORY)
  fs.makedirs(directory)
  if voc.kind == 'byte':
    name = ''
  elif voc.kind == 'hf':  # a tokenizer directory: the loaded tokenizer writes every file it needs
    name = 'tokenizer'
    with fs.local_dir(os.path.join(directory, name)) as local:
      voc.seqio_vocab.tokenizer.save_pretrained(local)
  else:  # one file: a SentencePiece .model or a WordPiece vocab.txt
    name = os.path.basename(voc.path)
    if fs.absolute(voc.path) != fs.absolute(os.path.join(directory, name)):
      fs.copy(voc.path, os.path.join(directory, name))
  entry = {'kind': voc.kind, 'file': name, 'source': fs.absolute(voc.path)
           if voc.kind != 'byte' else 'byte'}
  # Written last: a record means a full copy.
  fs.write_text(os.path.join(directory, RECORD), json.dumps(entry, indent=2))
  return recorded_path(workdir)


def run_vocab_path(config, workdir: str) -> str:
  """The vocabulary of a finished or running workdir: its record, else (older workdirs) what
  the config named or the SentencePiece model it trained into the workdir."""
  recorded = recorded_path(workdir)
  if recorded is not None:
    return recorded
  return config.data.vocab_path or os.path.join(workdir, f'spm_{config.data.vocab_size}.model')
