"""Objective shoot-out: re-derive the papers' claims at small scale on your own data, at equal
compute, with the papers' own yardstick (GLUE fine-tuning, several seeds, a learning-rate sweep).

python tools/shootout.py --workdir=/tmp/shootout --train_files='/data/enwiki/*/wiki_*' \
    --vocab_path=/tmp/wiki/wordpiece/vocab.txt --glue_dir=/data/glue \
    [--objectives=mlm,electra,rts] [--budget_steps=2400] [--ngram_lexicon=LEX.npz] \
    [--pretrain_seeds=3] [--reference=configs/wiki.py:size=tiny,positions=rotary]
python tools/shootout.py --workdir=/tmp/shootout --report_only   # table + plot from the cache

The line-up, budget, fine-tuning protocol and claims are configs/shootout.py. Steps, in order:
1. Pre-train every run into WORKDIR/<label>: the reference's encoder, data and loop, each run's
   own objective keys; the first run takes --budget_steps, the others the steps that spend the
   same training FLOPs (objectives.flops_per_token). C-RTS's cluster map is k-means of the first
   run's embeddings (WORKDIR/crts_clusters.txt). --pretrain_seeds=N trains each run N times
   (config seed + k, run 0's step count; WORKDIR/<label>_pretrain_seed<k> for k >= 1): one
   pre-training run moves the fine-tuned scores by more than the fine-tuning seeds do (README),
   so each row pools N x seeds fine-tunes and the verdicts judge the pooled ranges. The report
   needs the same --pretrain_seeds (it names runs it finds beyond N).
2. Fine-tune every run's downstream encoder, and a randomly initialised one ('random'), on each
   task x learning rate x seed into WORKDIR/<run>/finetune/<task>/lr_<lr>/seed_<k>.
3. (--probe_steps > 0) the frozen-encoder masked-token probe, a secondary column: it is biased
   toward MLM (ELECTRA-style discriminators never see [MASK]).
4. The report: WORKDIR/shootout.md (results, claims with verdicts, the sweep), shootout.json,
   shootout.png.
Everything is cached: a finished pre-training run (same config), fine-tune (finetune_result.json)
or probe is reused, and an interrupted run resumes from its checkpoint, so the table can be built
across several sittings and grows when objectives, rates or seeds are added.
"""
import dataclasses
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if __name__ == '__main__':  # CPU hosts train under mimalloc (mlm_jax/host_allocator.py)
  from mlm_jax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.maybe_reexec()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import ml_collections  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from configs import shootout as lineup  # noqa: E402
from mlm_jax import config_lib, models, objectives  # noqa: E402
from mlm_jax.config_lib import ConfigError  # noqa: E402
from tools import shootout_report as report  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = lineup.RUNS  # label -> (config spec, overrides); the first sets the budget
FIRST = next(iter(RUNS))
RANDOM = 'random'  # the randomly initialised encoder (the first run's architecture)
NGRAM_LEXICON, CLUSTER_MAP = '{ngram_lexicon}', '{cluster_map}'  # filled in (configs/shootout.py)

# The encoder every run gets from the reference (ELECTRA-style runs: the discriminator, with
# embeddings as wide as it, so no projection).
MODEL_KEYS = ('vocab_size', 'hidden_size', 'num_layers', 'num_heads', 'mlp_dim', 'max_positions',
              'position_scheme', 'rotary_base', 'local_rotary_base', 'dropout_rate',
              'attention_dropout_rate')
# Keys that change how often a run logs, evaluates or saves, not what it learns.
CADENCE_KEYS = ('train.log_every_steps', 'train.peak_flops', 'eval.every_steps',
                'checkpoint.every_steps', 'checkpoint.keep')
# A finished run whose step count is this close to its equal-compute count is reused as it is
# (its own steps and FLOPs are what the table shows), so an earlier study's runs count.
STEP_KEYS = ('train.steps', 'train.warmup_steps')
STEP_TOLERANCE = 0.02
RUN_RECORD = 'shootout_run.json'  # written in a run's workdir once it has finished


@dataclasses.dataclass
class Options:
  workdir: str
  train_files: str = ''
  vocab_path: str = ''
  glue_dir: str = ''
  ngram_lexicon: str = ''
  objectives: tuple = tuple(RUNS)
  budget_steps: int = lineup.BUDGET_STEPS
  learning_rates: tuple = lineup.LEARNING_RATES
  seeds: int = lineup.SEEDS
  pretrain_seeds: int = lineup.PRETRAIN_SEEDS
  tasks: tuple = tuple(lineup.TASKS)
  probe_steps: int = 0
  tiny: bool = False
  report_only: bool = False
  train_reference: bool = True
  reference: str = ''  # '' -> configs/shootout.py REFERENCE


def define_flags() -> None:
  """Defined when run as a command only, so tests can import this module beside others."""
  flags.DEFINE_string('workdir', None, 'Root: WORKDIR/<label> per run.')
  flags.DEFINE_string('train_files', '', 'Pre-training corpus (glob; the reference config\'s '
                      'format, WikiExtractor files).')
  flags.DEFINE_string('vocab_path', '', 'Vocabulary every run shares (tools/build_vocab.py).')
  flags.DEFINE_string('glue_dir', '', 'GLUE root (original TSV layout).')
  flags.DEFINE_string('ngram_lexicon', '', 'ERNIE-Gram\'s lexicon (tools/build_ngram_lexicon.py '
                      'on the same corpus and vocabulary).')
  flags.DEFINE_list('objectives', list(RUNS), 'Labels of configs/shootout.py to run (the first, '
                    f'{FIRST}, always runs: it sets the budget).')
  flags.DEFINE_integer('budget_steps', lineup.BUDGET_STEPS, f'Steps of the {FIRST} run.')
  flags.DEFINE_list('learning_rates', [f'{x:g}' for x in lineup.LEARNING_RATES],
                    'Fine-tuning learning rates swept per run and task.')
  flags.DEFINE_integer('seeds', lineup.SEEDS, 'Fine-tuning seeds per point (0..seeds-1).')
  flags.DEFINE_integer('pretrain_seeds', lineup.PRETRAIN_SEEDS, 'Pre-training runs per objective '
                       '(config seed + 0..N-1); each row pools their fine-tunes.')
  flags.DEFINE_list('tasks', list(lineup.TASKS), 'GLUE tasks of configs/shootout.py TASKS.')
  flags.DEFINE_integer('probe_steps', 0, 'Masked-token probe steps per encoder (0: no probe).')
  flags.DEFINE_bool('tiny', False, 'configs/smoke.py sizes, built-in corpus, 2-step fine-tunes: '
                    'a smoke test.')
  flags.DEFINE_bool('report_only', False, 'Only rebuild the report from what is cached.')
  flags.DEFINE_string('reference', '', 'The encoder (size, positions, dropout), data and loop '
                      'every run gets (a config path:variant; default '
                      f'{lineup.REFERENCE}; configs/shootout.py TRAIN still sets batch and rate). '
                      'A workdir records its reference and refuses another.')
  flags.DEFINE_bool('train_reference', True, f'Train (or reuse) the {FIRST} run and the '
                    'random-init fine-tunes first. false: only the --objectives runs (a row '
                    'added in another sitting or on another machine; the report compares it '
                    f'with whatever {FIRST} and random results the workdir holds).')


def options_from_flags() -> Options:
  f = flags.FLAGS
  try:
    rates = tuple(float(x) for x in f.learning_rates)
  except ValueError:
    raise ConfigError(f'--learning_rates={",".join(f.learning_rates)}: numbers') from None
  return Options(f.workdir, f.train_files, f.vocab_path, f.glue_dir, f.ngram_lexicon,
                 tuple(o.strip() for o in f.objectives), f.budget_steps, rates, f.seeds,
                 f.pretrain_seeds, tuple(f.tasks), f.probe_steps, f.tiny, f.report_only,
                 f.train_reference, f.reference)


def check(opt: Options) -> list[str]:
  """One-line errors for bad options, before anything trains. Returns the labels to run."""
  if not opt.workdir:
    raise ConfigError('--workdir is required')
  bad = [o for o in opt.objectives if o not in RUNS]
  if bad:
    raise ConfigError(f'--objectives: {",".join(bad)} not in {",".join(RUNS)}')
  bad = [t for t in opt.tasks if t not in lineup.TASKS]
  if bad:
    raise ConfigError(f'--tasks: {",".join(bad)} not in {",".join(lineup.TASKS)}')
  if min(opt.budget_steps, opt.seeds, opt.pretrain_seeds) < 1:
    raise ConfigError('--budget_steps, --seeds and --pretrain_seeds must be >= 1')
  if not opt.learning_rates or not opt.tasks:
    raise ConfigError('--learning_rates and --tasks must not be empty')
  if any(not 0 < lr < 1 for lr in opt.learning_rates):
    raise ConfigError(f'--learning_rates={opt.learning_rates}: each in (0, 1)')
  labels = [FIRST] + [o for o in dict.fromkeys(opt.objectives) if o != FIRST]
  if opt.reference and opt.tiny:
    raise ConfigError('--reference with --tiny: --tiny trains configs/smoke.py on the built-in '
                      'corpus; give one of them')
  for o in labels:  # every run as it will train, with the reference's encoder
    try:
      c = run_config(o, opt, 1, opt.vocab_path)
      models.validate(c.model)
      if not set(RUNS[o][1].values()) & {CLUSTER_MAP, NGRAM_LEXICON}:  # (those read files)
        objectives.validate(c.objective, c.model, c.data.seq_len)
    except (ConfigError, OSError, ImportError, ValueError) as e:
      raise ConfigError(f'--reference={opt.reference}: {o}: {e}' if opt.reference
                        else f'{o}: {e}') from None
  if opt.report_only:
    return labels
  if not opt.tiny:
    for name in ('train_files', 'vocab_path'):
      if not getattr(opt, name):
        raise ConfigError(f'--{name} is required (or --tiny)')
  if not opt.glue_dir or not os.path.isdir(opt.glue_dir):
    raise ConfigError(f'--glue_dir={opt.glue_dir!r}: not a directory (GLUE TSVs)')
  lexicon = [o for o in labels if NGRAM_LEXICON in RUNS[o][1].values()]
  if lexicon and not opt.ngram_lexicon:
    raise ConfigError(f'--objectives has {",".join(lexicon)}: give --ngram_lexicon '
                      '(tools/build_ngram_lexicon.py)')
  return labels


def to_train(opt: Options, labels) -> list[str]:
  """LABELS in order, without the reference run unless it trains first or was asked for."""
  if opt.train_reference or FIRST in opt.objectives:
    return list(labels)
  return [o for o in labels if o != FIRST]


def run_name(label: str, pretrain_seed: int = 0) -> str:
  """Workdir name of LABEL's PRETRAIN_SEED-th pre-training run: the label itself for seed 0 (so
  caches made before pre-training seeds existed count), LABEL_pretrain_seedK after."""
  return label if pretrain_seed == 0 else f'{label}_pretrain_seed{pretrain_seed}'


def run_names(label: str, pretrain_seeds: int) -> list[str]:
  """LABEL's runs ('random' has one: its fine-tuning seeds draw its initialisation)."""
  return [RANDOM] if label == RANDOM else [run_name(label, k) for k in range(pretrain_seeds)]


def reference_spec(opt: Options) -> str:
  """The config every run builds on: --reference, else the line-up's (--tiny: its tiny one)."""
  return opt.reference or (lineup.TINY_REFERENCE if opt.tiny else lineup.REFERENCE)


def reference_config(opt: Options) -> ml_collections.ConfigDict:
  """reference_spec's config (the line-up's TRAIN settings on it, unless --tiny)."""
  c = config_lib.load_config_file(reference_spec(opt), REPO)
  if not opt.tiny:
    c.unlock()
    for key, value in lineup.TRAIN.items():
      c.train[key] = value
  return c


def run_config(label: str, opt: Options, steps: int, vocab_path: str, cluster_map: str = '',
               pretrain_seed: int = 0) -> ml_collections.ConfigDict:
  """LABEL's own config (objective and model family, its overrides) with the reference's encoder
  size, data and loop settings; PRETRAIN_SEED offsets its seed (init, data order, masking)."""
  spec, overrides = RUNS[label]
  ref = reference_config(opt)
  c = config_lib.load_config_file(spec, REPO)
  c.unlock()
  for key in MODEL_KEYS:
    c.model[key] = ref.model[key]
  if c.model.embedding_size:  # ELECTRA-style: as wide as the encoder (0 means that already)
    c.model.embedding_size = ref.model.hidden_size
  for section in ('data', 'train', 'eval', 'checkpoint'):
    for key, value in ref[section].items():
      c[section][key] = value
  filled = {NGRAM_LEXICON: opt.ngram_lexicon, CLUSTER_MAP: cluster_map}
  for key, value in overrides.items():
    section, leaf = key.split('.')
    c[section][leaf] = filled.get(value, value) if isinstance(value, str) else value
  if opt.train_files and not opt.tiny:
    c.data.train_files = opt.train_files
  c.data.vocab_path = vocab_path
  c.seed += pretrain_seed
  c.train.steps = steps
  c.train.warmup_steps = max(1, steps // 12)
  c.train.log_every_steps = max(1, min(100, steps))
  c.eval.every_steps = 0  # one evaluation, at the end
  c.eval.steps = 2 if opt.tiny else 10
  c.checkpoint.every_steps = max(1, min(200, steps))
  c.checkpoint.keep = 1
  if cluster_map:  # the map's own cluster count
    from mlm_jax import cluster_map as cluster_map_lib  # pylint: disable=g-import-not-at-top
    c.objective.crts_clusters = cluster_map_lib.num_clusters(cluster_map_lib.load(cluster_map))
  return c


def equal_compute_steps(budget_steps: int, per_token: dict[str, float],
                        reference: str) -> dict[str, int]:
  """Steps per run spending the REFERENCE run's FLOPs (same batch and length for all)."""
  ref = per_token[reference]
  return {k: max(1, round(budget_steps * ref / v)) for k, v in per_token.items()}


def config_mismatch(recorded: dict, wanted: dict, ignore=()) -> str:
  """'' when RECORDED (a workdir's config.json) trains what WANTED trains, else the first key
  that differs. Cadence keys (and IGNORE) are ignored, and so are keys the recorded run predates
  (absent or None there: they were added later, with defaults that keep the old behaviour)."""
  rec, want = config_lib.flat_keys(recorded), config_lib.flat_keys(wanted)
  for key in sorted(want):
    if key in CADENCE_KEYS or key in ignore or rec.get(key) is None:
      continue
    if rec[key] != want[key]:
      return f'{key}: {rec[key]!r} there, {want[key]!r} wanted'
  return ''


def near_enough(recorded: dict, wanted: dict) -> bool:
  """RECORDED differs from WANTED at most in its step count, by at most STEP_TOLERANCE."""
  steps, want = recorded['train']['steps'], wanted['train']['steps']
  return (not config_mismatch(recorded, wanted, STEP_KEYS)
          and abs(steps - want) <= STEP_TOLERANCE * want)


def _read_json(path):
  if os.path.isfile(path):
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  return None


def _write_json(path, value) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(value, f, indent=2)


def train_seconds(workdir: str, tokens_per_step: int) -> float:
  """Training time from the run's logged throughput (survives resumes; no compile or eval)."""
  from mlm_jax import metrics  # pylint: disable=g-import-not-at-top
  total, prev = 0.0, 0
  for r in metrics.read_records(workdir):
    if r['split'] == 'train' and r.get('tokens_per_sec'):
      total += (r['step'] - prev) * tokens_per_step / r['tokens_per_sec']
      prev = r['step']
  return total


def train_or_reuse(label: str, config, workdir: str) -> dict:
  """train.run into WORKDIR (resuming) unless WORKDIR/shootout_run.json records the same run.
  A workdir holding a different run is refused, not overwritten."""
  from mlm_jax import train  # pylint: disable=g-import-not-at-top
  want = json.loads(config.to_json())
  record_path = os.path.join(workdir, RUN_RECORD)
  done = _read_json(record_path)
  if done and (not config_mismatch(done['config'], want) or near_enough(done['config'], want)):
    print(f'== {label}: reusing the finished run in {workdir}', flush=True)
    return done
  existing = _read_json(os.path.join(workdir, config_lib.RUN_CONFIG))
  if existing and (why := config_mismatch(existing, want)):
    if not (near_enough(existing, want) and _finished(workdir, existing['train']['steps'])):
      raise ConfigError(f'{workdir} holds a different {label} run ({why}): move it away or '
                        'use another --workdir')
    config = ml_collections.ConfigDict(existing)  # its own step count; it only evaluates
    want = existing
  print(f'== {label}: training {config.train.steps} steps into {workdir}', flush=True)
  eval_values = train.run(config, workdir)
  done = {'config': want, 'eval': {k: v for k, v in eval_values.items()
                                   if isinstance(v, (int, float))}}
  _write_json(record_path, done)
  return done


def _finished(workdir: str, steps: int) -> bool:
  return os.path.isdir(os.path.join(workdir, 'checkpoints', str(steps)))


def uses_cluster_map(label: str) -> bool:
  return CLUSTER_MAP in RUNS[label][1].values()


def build_cluster_map(opt: Options, label: str) -> str:
  """LABEL's token -> cluster map from lineup.CLUSTER_MAP_FROM's trained embeddings (once;
  reused after)."""
  from mlm_jax import cluster_map  # pylint: disable=g-import-not-at-top
  from tools import embedding_clusters  # pylint: disable=g-import-not-at-top
  path = os.path.join(opt.workdir, 'crts_clusters.txt')
  if os.path.isfile(path):
    return path
  source = os.path.join(opt.workdir, lineup.CLUSTER_MAP_FROM)
  if not os.path.isfile(os.path.join(source, RUN_RECORD)):
    raise ConfigError(f'{label} clusters the trained embeddings of {source}, which holds no '
                      f'finished run: train {lineup.CLUSTER_MAP_FROM} first')
  clusters = RUNS[label][1].get('objective.crts_clusters', 256)
  table = embedding_clusters.workdir_table(source)
  cluster_map.save(embedding_clusters.kmeans(table, min(clusters, len(table) // 2), 0), path)
  return path


# --- fine-tuning ---

def finetune_spec(opt: Options) -> dict:
  """What every cached run and fine-tune shares; a cache made under another spec is refused."""
  spec = {'finetune': lineup.FINETUNE, 'tasks': {t: lineup.TASKS[t] for t in opt.tasks}}
  if opt.tiny:
    spec['tiny'] = True
  if opt.reference:  # only when set, so workdirs made before the flag keep matching
    spec['reference'] = opt.reference
  return spec


def finetune_config(task: str, lr: float, init_dir: str, random_init: bool, opt: Options):
  from configs import glue as glue_config  # pylint: disable=g-import-not-at-top
  f = lineup.FINETUNE
  c = ml_collections.ConfigDict(glue_config.get_config(
      f'task={task},preset={f["preset"]},size={f["size"]}').to_dict())
  c.init_from.workdir, c.init_from.weights = init_dir, not random_init
  c.finetune.data_dir = opt.glue_dir
  c.finetune.max_seq_len, c.finetune.epochs = f['max_seq_len'], f['epochs']
  c.finetune.train_examples = lineup.TASKS[task]
  c.train.learning_rate = lr
  if opt.tiny:  # two steps on 32 rows: the path, not the numbers
    c.finetune.max_seq_len, c.finetune.steps = 32, 2
    c.finetune.train_examples = c.finetune.eval_examples = 32
    c.train.batch_size = c.eval.batch_size = 16
  return c


def finetune_dir(root: str, name: str, task: str, lr: float, seed: int) -> str:
  """NAME: a run's workdir name (run_name)."""
  return os.path.join(root, name, 'finetune', task, f'lr_{lr:g}', f'seed_{seed}')


def cached_runs(root: str, labels, tasks, rates, seeds: int, pretrain_seeds: int = 1) -> dict:
  """{label: {task: {lr: [[score per finished fine-tune] per pre-training run]}}} from the
  fine-tunes on disk (RANDOM has one run: its fine-tuning seeds draw its weights)."""
  from mlm_jax.finetune import runner  # pylint: disable=g-import-not-at-top
  out = {}
  for label in labels:
    for task in tasks:
      for lr in rates:
        per_run = []
        for name in run_names(label, pretrain_seeds):
          done = (_read_json(os.path.join(finetune_dir(root, name, task, lr, k), runner.RESULT))
                  for k in range(seeds))
          per_run.append([d['metrics']['score'] for d in done if d])
        out.setdefault(label, {}).setdefault(task, {})[lr] = per_run
  return out


def pooled(runs: dict) -> dict:
  """cached_runs' scores pooled over each label's pre-training runs:
  {label: {task: {lr: [score per finished fine-tune]}}}."""
  return {label: {task: {lr: [x for run in per_run for x in run] for lr, per_run in by_lr.items()}
                  for task, by_lr in by_task.items()}
          for label, by_task in runs.items()}


def expected_scores(opt: Options, labels) -> dict[str, int]:
  """Fine-tunes per label, rate and task once every run and seed has finished."""
  return {label: opt.seeds * len(run_names(label, opt.pretrain_seeds)) for label in labels}


def runs_beyond(opt: Options, labels) -> list[str]:
  """Pre-training runs in the workdir past --pretrain_seeds (a report made without them would
  silently judge fewer runs than were trained)."""
  found = []
  for label in labels:
    k = opt.pretrain_seeds
    while os.path.isdir(os.path.join(opt.workdir, run_name(label, k))):
      found.append(run_name(label, k))
      k += 1
  return found


def check_finetune_spec(opt: Options, write: bool = True) -> None:
  """Records the protocol (fine-tuning settings, --reference) in WORKDIR/finetune_spec.json; a
  cache made under another one is refused (tasks may be added; settings, a task's rows and the
  reference may not change). WRITE=False (a report): only the check."""
  spec_path = os.path.join(opt.workdir, 'finetune_spec.json')
  spec, recorded = finetune_spec(opt), _read_json(spec_path) or {}
  if recorded:
    same_rows = all(recorded['tasks'].get(t, n) == n for t, n in spec['tasks'].items())
    if not same_rows or {k: v for k, v in recorded.items() if k != 'tasks'} != {
        k: v for k, v in spec.items() if k != 'tasks'}:
      raise ConfigError(f'{spec_path} records another fine-tuning protocol or --reference '
                        f'({recorded.get("reference") or "the default"}): use another --workdir')
    spec['tasks'] = dict(recorded['tasks'], **spec['tasks'])
  if write:
    _write_json(spec_path, spec)


def finetune_run(opt: Options, name: str) -> None:
  """Every task x learning rate x seed of run NAME's downstream encoder ('random': the first
  run's architecture with fresh weights)."""
  from mlm_jax.finetune import suite  # pylint: disable=g-import-not-at-top
  init_dir = os.path.join(opt.workdir, FIRST if name == RANDOM else name)
  for task in opt.tasks:
    for lr in opt.learning_rates:
      base = finetune_config(task, lr, init_dir, name == RANDOM, opt)
      for k in range(opt.seeds):
        out = finetune_dir(opt.workdir, name, task, lr, k)
        print(f'== fine-tune {name} {task} lr {lr:g} seed {k}', flush=True)
        suite.run_one(base, task, k, out)


# --- probe (secondary) ---

def probe_all(opt: Options, labels) -> None:
  import jax  # pylint: disable=g-import-not-at-top
  from flax import linen as nn  # pylint: disable=g-import-not-at-top
  from mlm_jax import probe, state  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  ref = reference_config(opt)
  spec = probe.ProbeSpec(steps=opt.probe_steps, batch_size=32, max_predictions=0,
                         eval_batches=2 if opt.tiny else 20, seed=ref.seed)
  want = {'spec': json.loads(json.dumps(dataclasses.asdict(spec)))}
  for label in [RANDOM] + labels:
    path = os.path.join(opt.workdir, label, 'probe.json')
    done = _read_json(path)
    if done and done.get('spec') == want['spec']:
      continue
    print(f'== probe: {label}', flush=True)
    if label == RANDOM:
      cfg = config_lib.load_run_config(os.path.join(opt.workdir, FIRST))
      params = nn.meta.unbox(state.init_variables(models.build(cfg.model), cfg.data.seq_len,
                                                  jax.random.key(ref.seed)))
      source = pipeline.build_source(cfg.data, os.path.join(opt.workdir, FIRST))
      result = probe.probe(cfg.model, params, source, cfg.data.seq_len, spec)
    else:
      result = probe.probe_workdir(os.path.join(opt.workdir, label), spec)
    _write_json(path, dict(result, **want))


# --- report ---

def _native(run: dict) -> tuple[str, float, float | None] | None:
  """(headline key, value, its baseline or None) of a finished run's own evaluation, if it
  logged one: a detector's accuracy means little beside answering "original" everywhere."""
  cfg = ml_collections.ConfigDict(run['config'])
  key = objectives.objective(cfg.objective).headline(cfg.objective)
  ev = run['eval']
  return (key, ev[key], ev.get(f'baseline_{key}')) if key in ev else None


def report_rows(opt: Options, labels, per_token: dict, steps: dict, tokens_per_step: int):
  """(the table's rows, the pooled results, the results per pre-training run)."""
  everyone = [RANDOM] + labels
  runs_results = cached_runs(opt.workdir, everyone, opt.tasks, opt.learning_rates, opt.seeds,
                             opt.pretrain_seeds)
  results = pooled(runs_results)
  expected = expected_scores(opt, everyone)
  rows = []
  for label in everyone:
    probe = (_read_json(os.path.join(opt.workdir, label, 'probe.json')) or {}).get(
        'probe_accuracy')
    common = dict(label=label, results=results[label], probe=probe, expected=expected[label])
    if label == RANDOM:
      rows.append(dict(common, name='random init (BERT encoder)', steps=0, flops=0.0,
                       train_s=0.0, native='-'))
      continue
    names = run_names(label, opt.pretrain_seeds)
    done = [n for n in names if os.path.isfile(os.path.join(opt.workdir, n, RUN_RECORD))]
    runs = [_read_json(os.path.join(opt.workdir, n, RUN_RECORD)) for n in done]
    downstream = models.family(config_lib.load_config_file(RUNS[label][0], REPO).model).downstream
    name = (f'{label} ({downstream}; {len(done)} of {len(names)} pre-training runs)'
            if len(names) > 1 else f'{label} ({downstream})')
    if len(names) > 1:  # cells judge the finished runs' sweeps; the name says how many finished
      common['expected'] = opt.seeds * max(1, len(done))
      if probe is not None:
        common['probe_note'] = ' (run 0)'
    if not runs:
      rows.append(dict(common, name=name, steps=f'{steps[label]} (not run)', flops=0.0,
                       train_s=0.0, native='-'))
      continue
    native = report.native_cell([x for x in map(_native, runs) if x])
    ran = runs[0]['config']['train']['steps']  # may differ by STEP_TOLERANCE
    rows.append(dict(common, name=name, steps=ran, flops=per_token[label] * tokens_per_step * ran,
                     train_s=statistics.mean(train_seconds(os.path.join(opt.workdir, n),
                                                           tokens_per_step) for n in done),
                     native=native))
  return rows, results, runs_results


def per_run_rows(opt: Options, labels, results: dict, runs_results: dict) -> list[dict]:
  """For each label and task: every pre-training run's scores at the label's best (pooled) rate,
  so the run-to-run spread can be read beside the fine-tuning seeds'."""
  rows = []
  for label in labels:
    for task in opt.tasks:
      best = report.best_lr(results[label][task])
      if best:
        rows.append(dict(label=label, task=task, lr=best[0],
                         runs=runs_results[label][task][best[0]]))
  return rows


def write_report(opt: Options, labels, per_token, steps, tokens_per_step) -> str:
  from mlm_jax import metrics  # pylint: disable=g-import-not-at-top
  rows, results, runs_results = report_rows(opt, labels, per_token, steps,
                                            tokens_per_step)
  claims = [c for c in lineup.CLAIMS if {c[0], c[2]} <= set(labels) | {RANDOM}]
  claim_rows = report.claim_rows(claims, results, opt.tasks,
                                 expected_scores(opt, [RANDOM] + labels))
  rows_desc = ', '.join(f'{t} ({lineup.TASKS[t] or "all"} training rows)' for t in opt.tasks)
  seeds = (f'{opt.pretrain_seeds} pre-training runs (config seed + 0..{opt.pretrain_seeds - 1})'
           f' x {opt.seeds} fine-tuning seeds, pooled; random init: {opt.seeds} seeds'
           if opt.pretrain_seeds > 1 else f'{opt.seeds} seeds')
  ft = lineup.FINETUNE
  note = (f'Encoder, data and loop: {reference_spec(opt)}. '
          f'Budget: {FIRST} {opt.budget_steps} steps x {tokens_per_step} tokens; the others '
          'equal training FLOPs. Fine-tuning: '
          f'{rows_desc}; {ft["preset"]}-{ft["size"]} recipe, {ft["epochs"]:g} epochs, length '
          f'{ft["max_seq_len"]}; learning rates {", ".join(f"{x:g}" for x in opt.learning_rates)}'
          f'; {seeds}; each run and task at its best rate (median). '
          f'CPU: {metrics.cpu_model()}.')
  parts = [report.results_markdown(rows, opt.tasks, opt.seeds),
           report.claims_markdown(claim_rows, opt.tasks), note,
           report.sweep_markdown(rows, opt.tasks, opt.learning_rates)]
  if opt.pretrain_seeds > 1:
    parts.append(report.per_run_markdown(per_run_rows(opt, labels, results, runs_results),
                                         opt.pretrain_seeds))
  if beyond := runs_beyond(opt, labels):
    parts.append(f'Not pooled (past --pretrain_seeds={opt.pretrain_seeds}): '
                 f'{", ".join(beyond)}.')
  md = '\n\n'.join(parts) + '\n'
  with open(os.path.join(opt.workdir, 'shootout.md'), 'w', encoding='utf-8') as f:
    f.write(md)
  _write_json(os.path.join(opt.workdir, 'shootout.json'),
              {'rows': [{k: v for k, v in r.items()} for r in rows], 'claims': claim_rows,
               'note': note})
  report.plot(os.path.join(opt.workdir, 'shootout.png'), rows, opt.tasks,
              f'{FIRST} budget {opt.budget_steps} steps; best lr of '
              f'{len(opt.learning_rates)}; {seeds}')
  return md


def run(opt: Options) -> str:
  labels = check(opt)
  os.makedirs(opt.workdir, exist_ok=True)
  from mlm_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  ref = reference_config(opt)
  if opt.vocab_path:
    vocab_path = opt.vocab_path
  elif opt.tiny and not opt.report_only:  # a SentencePiece model of the built-in corpus, once
    vocab_path = pipeline.resolve_vocab(ref.data, os.path.join(opt.workdir, 'vocab')).path
  else:
    vocab_path = ''
  per_token = {o: objectives.flops_per_token(run_config(o, opt, 1, vocab_path)) for o in labels}
  steps = equal_compute_steps(opt.budget_steps, per_token, FIRST)
  tokens_per_step = ref.train.batch_size * ref.data.seq_len
  for o in labels:
    print(f'{o}: {per_token[o] / 1e6:.2f} MFLOP/token -> {steps[o]} steps', flush=True)
  check_finetune_spec(opt, write=not opt.report_only)
  if not opt.report_only:
    t0 = time.time()
    for o in to_train(opt, labels):  # each run, then its fine-tunes: run by run
      cluster_map = build_cluster_map(opt, o) if uses_cluster_map(o) else ''
      ran = steps[o]
      for k, name in enumerate(run_names(o, opt.pretrain_seeds)):
        config = run_config(o, opt, ran, vocab_path, cluster_map, pretrain_seed=k)
        done = train_or_reuse(name, config, os.path.join(opt.workdir, name))
        if done:  # later runs take run 0's own count (a reused run may be within 2% of steps[o])
          ran = done['config']['train']['steps']
        finetune_run(opt, name)
        if name == FIRST:
          finetune_run(opt, RANDOM)
    if opt.probe_steps:
      probe_all(opt, labels)
    print(f'== done in {(time.time() - t0) / 60:.1f} min', flush=True)
  md = write_report(opt, labels, per_token, steps, tokens_per_step)
  print(md, flush=True)
  return md


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    run(options_from_flags())
  except ConfigError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
