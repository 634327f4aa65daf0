"""Tokenisation study: pre-train and fine-tune the same model under two vocabularies and print
both scores (the question of the biomedical sub-optimal-tokenisation paper; byte-level models
such as MonoByte are `--vocab_b=byte`).

python tools/tokenization_study.py --workdir=/tmp/tok --config=configs/wiki.py:size=tiny \
    --train_files='/data/enwiki/*/wiki_*' --vocab_a=/tmp/wiki/wordpiece/vocab.txt \
    --vocab_b=byte --glue_dir=/data/glue [--steps=2400] [--tasks=sst2,stsb] [--seeds=3]

Both runs have the config's model, data, optimiser and step count; only data.vocab_path (and
model.vocab_size, to fit it) differ, so both see the same number of tokens per step — a byte
model reads less text per token, which the printed tokens-per-word shows. Each run trains into
WORKDIR/a or WORKDIR/b and is fine-tuned like the shoot-out (configs/shootout.py FINETUNE; the
tasks' training rows from its TASKS, others in full) at --learning_rate with --seeds seeds, at
--max_seq_len tokens. Runs and fine-tunes are cached: rerun to resume or to add seeds.
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app, flags, logging  # noqa: E402

from mlm_jax import config_lib  # noqa: E402
from mlm_jax.config_lib import ConfigError  # noqa: E402
from tools import shootout  # noqa: E402
from tools import shootout_report as report  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = ('a', 'b')


def define_flags() -> None:
  flags.DEFINE_string('workdir', None, 'Root: WORKDIR/a and WORKDIR/b.')
  flags.DEFINE_string('config', 'configs/wiki.py:size=tiny', 'Model, data and loop (path:variant).')
  flags.DEFINE_string('train_files', '', 'Corpus glob (data.train_files); empty: the config\'s.')
  flags.DEFINE_string('vocab_a', None, 'First vocabulary (data.vocab_path value).')
  flags.DEFINE_string('vocab_b', None, 'Second vocabulary (e.g. byte).')
  flags.DEFINE_string('glue_dir', '', 'GLUE root (original TSV layout).')
  flags.DEFINE_integer('steps', 0, 'Pre-training steps of each run (0: the config\'s).')
  flags.DEFINE_list('tasks', ['sst2'], 'GLUE tasks.')
  flags.DEFINE_integer('seeds', 3, 'Fine-tuning seeds.')
  flags.DEFINE_float('learning_rate', 1e-3, 'Fine-tuning learning rate.')
  flags.DEFINE_integer('max_seq_len', 128, 'Fine-tuning length in tokens (both vocabularies).')
  flags.DEFINE_bool('tiny', False, 'Two fine-tuning steps on 32 rows: a smoke test.')


def run_config(config_spec: str, vocab_path: str, train_files: str, steps: int):
  """The config with VOCAB_PATH (and a model vocabulary that fits it)."""
  from mlm_jax.data import vocab  # pylint: disable=g-import-not-at-top
  c = config_lib.load_config_file(config_spec, REPO)
  c.unlock()
  size = vocab.load(vocab_path).tokens.vocab_size
  c.data.vocab_path = vocab_path
  c.model.vocab_size = max(size, 8)
  if train_files:
    c.data.train_files = train_files
  if steps:
    c.train.steps = steps
    c.train.warmup_steps = max(1, steps // 12)
  c.eval.every_steps = 0
  c.checkpoint.every_steps = min(200, c.train.steps)
  return c


def tokens_per_word(config, workdir: str, documents: int = 200) -> float:
  """The vocabulary's fertility on the first DOCUMENTS validation documents."""
  from mlm_jax.data import pipeline, vocab  # pylint: disable=g-import-not-at-top
  voc = vocab.load(config.data.vocab_path)
  tokens = words = 0
  for ex in pipeline.documents(config.data, workdir, 'validation').take(documents) \
      .as_numpy_iterator():
    text = ex['text'].decode('utf-8')
    tokens += len(voc.seqio_vocab.encode(text))
    words += len(text.split())
  return tokens / max(words, 1)


def study(workdir: str, config_spec: str, vocabs: dict, train_files: str, glue_dir: str,
          steps: int, tasks, seeds: int, lr: float, max_seq_len: int, tiny: bool) -> str:
  from mlm_jax.finetune import suite  # pylint: disable=g-import-not-at-top
  bad = [t for t in tasks if t not in shootout.lineup.TASKS]
  if bad:
    raise ConfigError(f'--tasks: {",".join(bad)} not in {",".join(shootout.lineup.TASKS)}')
  if not glue_dir or not os.path.isdir(glue_dir):
    raise ConfigError(f'--glue_dir={glue_dir!r}: not a directory (GLUE TSVs)')
  opt = shootout.Options(workdir=workdir, glue_dir=glue_dir, tiny=tiny)
  rows = []
  for label, vocab_path in vocabs.items():
    run_dir = os.path.join(workdir, label)
    config = run_config(config_spec, vocab_path, train_files, steps)
    record = shootout.train_or_reuse(label, config, run_dir)
    scores = {}
    for task in tasks:
      base = shootout.finetune_config(task, lr, run_dir, False, opt)
      if not tiny:
        base.finetune.max_seq_len = max_seq_len
      scores[task] = [suite.run_one(base, task, k, shootout.finetune_dir(
          workdir, label, task, lr, k))['score'] for k in range(seeds)]
    rows.append({'label': label, 'vocab': vocab_path, 'vocab_size': config.model.vocab_size,
                 'tokens_per_word': tokens_per_word(config, run_dir), 'scores': scores,
                 'eval': record['eval']})
  head = ('| run | vocabulary | size | tokens per word | '
          + ' | '.join(f'{t}: median (min-max)' for t in tasks) + ' |')
  lines = [head, '|---|---|---:|---:|' + '---|' * len(tasks)]
  for r in rows:
    lines.append(f'| {r["label"]} | {r["vocab"]} | {r["vocab_size"]} | '
                 f'{r["tokens_per_word"]:.2f} | '
                 + ' | '.join(report.spread(r['scores'][t]) for t in tasks) + ' |')
  a, b = (r['scores'] for r in rows)
  for t in tasks:
    gap = 100 * (statistics.median(a[t]) - statistics.median(b[t]))
    verdict = {'reproduced': 'a ahead beyond the spread', 'reversed': 'b ahead beyond the spread',
               'not decidable': 'within the spread'}[report.verdict(a[t], b[t], 'beats')]
    lines.append(f'\n{t}: median a - b = {gap:+.1f} points ({verdict})')
  md = '\n'.join(lines) + '\n'
  with open(os.path.join(workdir, 'tokenization_study.md'), 'w', encoding='utf-8') as f:
    f.write(md)
  with open(os.path.join(workdir, 'tokenization_study.json'), 'w', encoding='utf-8') as f:
    json.dump(rows, f, indent=2)
  return md


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  try:
    if not f.workdir or not f.vocab_a or not f.vocab_b:
      raise ConfigError('--workdir, --vocab_a and --vocab_b are required')
    os.makedirs(f.workdir, exist_ok=True)
    print(study(f.workdir, f.config, dict(zip(LABELS, (f.vocab_a, f.vocab_b))), f.train_files,
                f.glue_dir, f.steps, tuple(f.tasks), f.seeds, f.learning_rate, f.max_seq_len,
                f.tiny), flush=True)
  except ConfigError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
