"""Objective shoot-out: MLM, ELECTRA, RTS and MCL at equal training FLOPs, one corpus, one
tokenizer, one yardstick (a frozen-encoder masked-token probe, mlm_jax/probe.py).

python tools/shootout.py --workdir=/tmp/shootout [--budget_steps=200] \
    [--objectives=mlm,electra,rts,mcl] [--probe_steps=300]

Every run has the demo's encoder (4 layers x 192, 3 heads, MLP 768; ELECTRA/MCL: that is the
discriminator, with a 1/4-width generator and 192-wide tied embeddings), seq_len 128, batch 32,
the demo's optimiser (AdamW 1e-3, 10% warmup, linear decay), the built-in corpus and ONE
SentencePiece vocabulary trained once in WORKDIR/vocab. The MLM run takes --budget_steps; every
other run takes the number of steps that spends the same training FLOPs (formulas in
flops_per_token). Each run trains into WORKDIR/<objective>; a finished run (same config) is
reused, so the command can be rerun after adding an objective. Then every encoder, and a
randomly initialised one for reference, gets the same probe; the table is printed and written
to WORKDIR/shootout.md.
"""
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import ml_collections  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from configs import shootout as lineup  # noqa: E402
from mlm_jax import config_lib, models, objectives  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = lineup.RUNS  # label -> config spec; the first sets the budget

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defined when run as a command only, so tests can import this module beside others that
  define --workdir."""
  flags.DEFINE_string('workdir', None, 'Root: WORKDIR/<label> per run.')
  flags.DEFINE_integer('budget_steps', 200, 'Steps of the first run; sets the FLOP budget.')
  flags.DEFINE_list('objectives', list(RUNS), 'Labels of configs/shootout.py to run.')
  flags.DEFINE_integer('probe_steps', 300, 'Adam steps of every probe head.')
  flags.DEFINE_integer('probe_eval_batches', 0, 'Probe validation batches; 0: all.')
  flags.DEFINE_bool('tiny', False, 'configs/smoke.py sizes (2 x 64): a smoke test.')

# The encoder every run gets from the reference config (ELECTRA-style runs: the discriminator,
# with embeddings as wide as it, so no projection).
MODEL_KEYS = ('vocab_size', 'hidden_size', 'num_layers', 'num_heads', 'mlp_dim', 'max_positions',
              'dropout_rate', 'attention_dropout_rate')


def reference_config(tiny: bool = False) -> ml_collections.ConfigDict:
  """The first run's config (or the smoke config): its encoder, data and loop for every run."""
  return config_lib.load_config_file(lineup.TINY_REFERENCE if tiny else next(iter(RUNS.values())),
                                     REPO)


def run_config(label: str, vocab_path: str, steps: int, tiny: bool = False,
               peak_flops: float = 0.0) -> ml_collections.ConfigDict:
  """LABEL's own config (its objective and model family) with the reference encoder size,
  data and loop settings."""
  if label not in RUNS:
    raise ValueError(f'--objectives: {label!r} is not one of {list(RUNS)}')
  ref = reference_config(tiny)
  c = config_lib.load_config_file(RUNS[label], REPO)
  for key in MODEL_KEYS:
    c.model[key] = ref.model[key]
  c.model.embedding_size = ref.model.hidden_size
  for section in ('data', 'train', 'eval', 'checkpoint'):
    for key, value in ref[section].items():
      c[section][key] = value
  c.data.vocab_path = vocab_path
  c.train.steps = steps
  c.train.warmup_steps = max(1, round(0.1 * steps))
  c.train.log_every_steps = max(1, min(25, steps))
  c.train.peak_flops = peak_flops
  c.eval.every_steps = 0  # one evaluation, at the end
  c.eval.steps = 0  # the whole validation split
  c.checkpoint.every_steps = steps
  c.checkpoint.keep = 1
  return c


def flops_per_token(config) -> float:
  """Training FLOPs per token: every pass the objective runs (objectives.flops_per_token)."""
  return objectives.flops_per_token(config)


def equal_compute_steps(budget_steps: int, per_token: dict[str, float],
                        reference: str) -> dict[str, int]:
  """Steps per run spending the REFERENCE run's FLOPs (same batch and length for all)."""
  ref = per_token[reference]
  return {k: max(1, round(budget_steps * ref / v)) for k, v in per_token.items()}


def native_metrics(config, eval_values: dict) -> str:
  """The run's own headline metric (as its objective declares it)."""
  key = objectives.objective(config.objective).headline(config.objective)
  return f'{key} {eval_values[key]:.3f}' if key in eval_values else '-'


def table(rows: list[dict]) -> str:
  lines = ['| objective (encoder probed) | steps | train FLOPs | wall time | probe held-out MLM '
           'accuracy | probe held-out loss | native eval |', '|---|---:|---:|---:|---:|---:|---|']
  for r in rows:
    wall = f'{r["wall_s"] / 60:.1f} min' if r['wall_s'] else '-'
    flops = f'{r["flops"]:.2e}' if r['flops'] else '0'
    lines.append(f'| {r["name"]} | {r["steps"]} | {flops} | {wall} | '
                 f'{r["probe_accuracy"]:.4f} | {r["probe_loss"]:.4f} | {r["native"]} |')
  return '\n'.join(lines)


def _read_json(path):
  if os.path.isfile(path):
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  return None


def _write_json(path, value) -> None:
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(value, f, indent=2)


def _comparable(config_dict: dict) -> dict:
  """The config without the measured peak FLOP/s (it differs from process to process)."""
  out = json.loads(json.dumps(config_dict))
  out['train'].pop('peak_flops', None)
  return out


def train_or_reuse(objective: str, config, workdir: str) -> dict:
  """train.run into WORKDIR unless WORKDIR/shootout_run.json records the same config."""
  from mlm_jax import train  # pylint: disable=g-import-not-at-top
  record_path = os.path.join(workdir, 'shootout_run.json')
  want = json.loads(config.to_json())
  done = _read_json(record_path)
  if done and _comparable(done['config']) == _comparable(want):
    print(f'== {objective}: reusing the finished run in {workdir}', flush=True)
    return done
  print(f'== {objective}: training {config.train.steps} steps into {workdir}', flush=True)
  t0 = time.time()
  eval_values = train.run(config, workdir)
  done = {'config': want, 'wall_s': time.time() - t0,
          'eval': {k: v for k, v in eval_values.items() if isinstance(v, (int, float))}}
  _write_json(record_path, done)
  return done


def probe_or_reuse(run_probe, record_path: str, spec, key) -> dict:
  """run_probe() unless RECORD_PATH holds a result for the same probe spec and KEY."""
  want = {'spec': dataclasses.asdict(spec), 'key': key}
  done = _read_json(record_path)
  if done and {'spec': done.get('spec'), 'key': done.get('key')} == json.loads(json.dumps(want)):
    return done
  result = dict(run_probe(), **want)
  _write_json(record_path, result)
  return result


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  import jax  # pylint: disable=g-import-not-at-top
  from flax import linen as nn  # pylint: disable=g-import-not-at-top
  from mlm_jax import metrics, probe, state  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import pipeline  # pylint: disable=g-import-not-at-top

  root, tiny = FLAGS.workdir, FLAGS.tiny
  if not root:
    sys.exit('error: --workdir is required')
  labels = [o.strip() for o in FLAGS.objectives]
  bad = [o for o in labels if o not in RUNS]
  if bad:
    sys.exit(f'error: --objectives: {",".join(bad)} not in {",".join(RUNS)}')
  os.makedirs(root, exist_ok=True)
  first = next(iter(RUNS))  # sets the FLOP budget, and its encoder is the random reference

  # One vocabulary for every run, trained once on the reference config's corpus.
  ref = reference_config(tiny)
  vocab_path = pipeline.resolve_vocab(ref.data, os.path.join(root, 'vocab')).path
  peak = metrics.measure_peak_flops() if not tiny else 1e11  # one MFU yardstick for all runs

  probe_configs = {o: run_config(o, vocab_path, 1, tiny, peak) for o in set(labels) | {first}}
  per_token = {o: flops_per_token(c) for o, c in probe_configs.items()}
  steps = equal_compute_steps(FLAGS.budget_steps, per_token, first)
  tokens_per_step = ref.train.batch_size * ref.data.seq_len
  for o in labels:
    print(f'{o}: {per_token[o] / 1e6:.2f} MFLOP/token -> {steps[o]} steps', flush=True)

  runs = {}
  for o in labels:
    runs[o] = train_or_reuse(o, run_config(o, vocab_path, steps[o], tiny, peak),
                             os.path.join(root, o))

  spec = probe.ProbeSpec(steps=FLAGS.probe_steps, batch_size=ref.train.batch_size,
                         max_predictions=ref.objective.max_predictions,
                         eval_batches=FLAGS.probe_eval_batches, seed=ref.seed)
  rows = []
  # Reference: the same probe on a randomly initialised encoder (what the probe gets for free).
  mlm_cfg = probe_configs[first]
  random_params = nn.meta.unbox(state.init_variables(
      models.build(mlm_cfg.model), ref.data.seq_len, jax.random.key(ref.seed)))
  source = pipeline.build_source(mlm_cfg.data, os.path.join(root, 'vocab'))
  print('== probe: random-init encoder', flush=True)
  rand = probe_or_reuse(
      lambda: probe.probe(mlm_cfg.model, random_params, source, ref.data.seq_len, spec),
      os.path.join(root, 'vocab', 'probe_random_init.json'), spec, mlm_cfg.model.to_dict())
  rows.append(dict(name='none (random init)', steps=0, flops=0.0, wall_s=0.0,
                   probe_accuracy=rand['probe_accuracy'], probe_loss=rand['probe_loss'],
                   native=f'probe baseline (most frequent) {rand["probe_baseline_accuracy"]:.3f}'))
  for o in labels:
    print(f'== probe: {o}', flush=True)
    result = probe_or_reuse(lambda o=o: probe.probe_workdir(os.path.join(root, o), spec),
                            os.path.join(root, o, 'probe.json'), spec, runs[o]['config'])
    downstream = models.family(probe_configs[o].model).downstream
    rows.append(dict(name=f'{o} ({downstream})', steps=steps[o],
                     flops=per_token[o] * tokens_per_step * steps[o], wall_s=runs[o]['wall_s'],
                     probe_accuracy=result['probe_accuracy'], probe_loss=result['probe_loss'],
                     native=native_metrics(probe_configs[o], runs[o]['eval'])))

  md = table(rows)
  note = (f'\nMLM budget {FLAGS.budget_steps} steps x {tokens_per_step} tokens; probe: '
          f'{spec.steps} Adam steps (lr {spec.learning_rate}) of LayerNorm + Dense(vocab) on the '
          f'frozen encoder, {spec.mask_rate:.0%} of tokens [MASK]ed, held-out accuracy on '
          f'{rand["probe_predictions"]} masked validation tokens ({spec.eval_passes} passes over '
          f'the split, fixed masks). Wall time: train.run (compile, training, final eval).\n')
  with open(os.path.join(root, 'shootout.md'), 'w', encoding='utf-8') as f:
    f.write(md + '\n' + note)
  print(md + '\n' + note, flush=True)


if __name__ == '__main__':
  define_flags()
  app.run(main)
