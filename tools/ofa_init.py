"""A new workdir whose model has a new (or extended) vocabulary, its embeddings initialised the
OFA way from a trained run (mlm_jax/ofa.py), ready for continued pre-training.

python tools/ofa_init.py --workdir=PRETRAINED --vocab=NEW_VOCAB --rank=64 --out=/tmp/ofa
python -m mlm_jax.main --config=configs/wiki.py:size=tiny --workdir=/tmp/ofa \
    --config.data.vocab_path=NEW_VOCAB --config.model.vocab_size=N ...   # continues from step 0

Everything but the token embeddings (and the MLM head's output bias, per row like them) is the
source run's. OUT/ofa.json records how many target rows were copied, mapped from a special
token, averaged over a decomposition, or drawn at random.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402
import numpy as np  # noqa: E402

from mlm_jax.config_lib import ConfigError  # noqa: E402


def define_flags() -> None:
  """Defined when run as a command only, so tests can import this module beside others."""
  flags.DEFINE_string('workdir', None, 'Source mlm_jax run (its latest checkpoint).')
  flags.DEFINE_string('vocab', None, 'The new vocabulary (data.vocab_path value).')
  flags.DEFINE_integer('rank', 64, 'Primitive-embedding dimension k of the factorisation.')
  flags.DEFINE_string('out', None, 'The new workdir (must not hold checkpoints).')
  flags.DEFINE_integer('seed', 0, 'Seed of the rows drawn at random.')


def pieces(voc) -> list[str]:
  """Every id's raw piece string (with its word-start / continuation marker)."""
  if voc.kind == 'sentencepiece':
    from mlm_jax.data import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
    sp = vocab_lib.load_processor(voc.path)
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
  if voc.kind in ('wordpiece', 'hf'):
    tok = voc.seqio_vocab.tokenizer
    return tok.convert_ids_to_tokens(list(range(voc.tokens.vocab_size)))
  raise ConfigError(f'vocabulary {voc.path}: OFA maps subword pieces; a {voc.kind} vocabulary '
                    'has none')


def special_map(target_tokens, source_tokens) -> dict[int, int]:
  """Target id -> source id of the special token with the same role."""
  return {getattr(target_tokens, role): getattr(source_tokens, role)
          for role in ('pad', 'cls', 'sep', 'mask')}


def build(workdir: str, new_vocab: str, rank: int, out: str, seed: int = 0) -> dict:
  from mlm_jax import checkpointing, config_lib, fs, models, ofa  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import vocab as vocab_lib, workdir_vocab  # pylint: disable=g-import-not-at-top
  if fs.exists(os.path.join(out, 'checkpoints')):
    raise ConfigError(f'--out={out} already has checkpoints; choose an empty directory')
  config = config_lib.load_run_config(workdir)
  if not models.family(config.model).has_mlm_head:
    raise ConfigError(f'--workdir={workdir}: model.name={config.model.name!r} has no single '
                      'token-embedding table with an MLM head (OFA here covers BERT-style runs)')
  source = vocab_lib.load(workdir_vocab.run_vocab_path(config, workdir))
  target = vocab_lib.load(new_vocab, '--vocab')
  if not 0 < rank <= config.model.hidden_size:
    raise ConfigError(f'--rank={rank} must be in (0, model.hidden_size={config.model.hidden_size}]')
  params, step = checkpointing.restore_params(config, workdir)
  table = params['embeddings']['word_embeddings']['embedding']
  rows = ofa.target_rows(pieces(source), pieces(target), source.seqio_vocab.encode,
                         special_map(target.tokens, source.tokens))
  new_table = ofa.initialize(table[:source.tokens.vocab_size], rows, rank, seed)
  bias = params['mlm_head']['bias']
  new_bias = np.array([bias[ids].mean() if ids else 0.0 for _, ids in rows], np.float32)
  params['embeddings']['word_embeddings']['embedding'] = new_table
  params['mlm_head']['bias'] = new_bias
  config.model.vocab_size = len(rows)
  config.data.vocab_path = new_vocab
  checkpointing.write_fresh_workdir(out, config, params)
  workdir_vocab.save(target, out)
  record = {'source': fs.absolute(workdir), 'source_step': step, 'vocab': new_vocab,
            'rank': rank, 'rows': ofa.summary(rows)}
  fs.write_text(os.path.join(out, 'ofa.json'), json.dumps(record, indent=2))
  return record


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  try:
    if not f.workdir or not f.vocab or not f.out:
      raise ConfigError('--workdir, --vocab and --out are required')
    record = build(f.workdir, f.vocab, f.rank, f.out, f.seed)
  except ConfigError as e:
    sys.exit(f'error: {e}')
  print(f'{f.out}: {record["rows"]} (rank {record["rank"]}, from step '
        f'{record["source_step"]} of {record["source"]})')


if __name__ == '__main__':
  define_flags()
  app.run(main)
