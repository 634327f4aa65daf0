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

from configs import demo, electra, mcl, smoke, substitution  # noqa: E402

OBJECTIVES = ('mlm', 'electra', 'rts', 'mcl')
DOWNSTREAM = {'mlm': 'BERT encoder', 'electra': 'discriminator', 'rts': 'token-detector encoder',
              'mcl': 'discriminator'}
# Eval metrics that say how well each run does its own task.
NATIVE = {'mlm': ('mlm_accuracy',), 'electra': ('disc_accuracy', 'mlm_accuracy'),
          'rts': ('detection_accuracy',), 'mcl': ('rtd_accuracy', 'mlm_accuracy')}

_WORKDIR = flags.DEFINE_string('workdir', None, 'Root: WORKDIR/<objective> per run.')
_BUDGET = flags.DEFINE_integer('budget_steps', 200, 'Steps of the MLM run; sets the FLOP budget.')
_OBJECTIVES = flags.DEFINE_list('objectives', list(OBJECTIVES), 'Objectives to compare.')
_PROBE_STEPS = flags.DEFINE_integer('probe_steps', 300, 'Adam steps of every probe head.')
_PROBE_EVAL = flags.DEFINE_integer('probe_eval_batches', 0, 'Probe validation batches; 0: all.')
_TINY = flags.DEFINE_bool('tiny', False, 'configs/smoke.py sizes (2 x 64): a smoke test.')


def _copy_section(dst, src) -> None:
  for key, value in src.items():
    dst[key] = value


def run_config(objective: str, vocab_path: str, steps: int, tiny: bool = False,
               peak_flops: float = 0.0) -> ml_collections.ConfigDict:
  """The objective's own config with the reference encoder size, data and loop settings."""
  ref = (smoke if tiny else demo).get_config()
  if objective == 'mlm':
    c = ref
  elif objective == 'rts':
    c = substitution.get_config(f'objective=rts{",tiny" if tiny else ""}')
  elif objective in ('electra', 'mcl'):
    c = (electra if objective == 'electra' else mcl).get_config('size=small')
    for key in ('vocab_size', 'hidden_size', 'num_layers', 'num_heads', 'mlp_dim',
                'max_positions', 'dropout_rate', 'attention_dropout_rate'):
      c.model[key] = ref.model[key]
    c.model.embedding_size = ref.model.hidden_size  # no projection: the encoder is the reference
    for section in ('data', 'train', 'eval', 'checkpoint'):
      _copy_section(c[section], ref[section])
    c.objective.max_predictions = int((c.objective.mask_rate + 0.005) * c.data.seq_len)
  else:
    raise ValueError(f'--objectives: {objective!r} is not one of {OBJECTIVES}')
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


def _electra_parts(m, seq_len: int, predictions: int) -> tuple[float, float]:
  """Training FLOPs per token of ELECTRA's generator and of its discriminator (one pass each)."""
  from mlm_jax.models import electra as electra_model  # pylint: disable=g-import-not-at-top
  e, g, n = electra_model.embedding_size(m), electra_model.generator_config(m), m.num_layers

  def encoder(d, f):
    project = e * d if e != d else 0
    return 6 * (n * (4 * d * d + 2 * d * f) + project) + 12 * n * d * seq_len

  gen = (encoder(g.hidden_size, g.mlp_dim)
         + 6 * (g.hidden_size * e + e * m.vocab_size) * predictions / seq_len)
  disc = encoder(m.hidden_size, m.mlp_dim) + 6 * (m.hidden_size * m.hidden_size + m.hidden_size)
  return gen, disc


def mcl_passes(courses: str) -> tuple[int, int]:
  """(generator passes, discriminator passes) per step of objectives/mcl.py's courses."""
  from mlm_jax.objectives import mcl as mcl_objective  # pylint: disable=g-import-not-at-top
  c = set(mcl_objective.parse_courses(courses))
  gen = int(bool(c & {'rtd', 'gc', 'dc'})) + int(bool(c & {'gc', 'dc'})) + int('itd' in c)
  disc = int(bool(c & {'rtd', 'gc', 'dc'})) + int('dc' in c) + int('std' in c) + int('itd' in c)
  return gen, disc


def flops_per_token(config) -> float:
  """Training FLOPs per token (forward + backward = 6 x multiply-adds of every weight use, plus
  12 x layers x width x seq_len for attention):
    mlm      metrics.model_flops_per_token (encoder + MLM head at max_predictions slots);
    electra  metrics.model_flops_per_token (generator + discriminator, = _electra_parts' sum);
    rts      metrics.model_flops_per_token (encoder + detection head at every token,
             6 x (d^2 + d); no vocabulary projection);
    mcl      n_gen x generator + n_disc x discriminator, the passes its courses run per step
             (all five: 3 generator, 4 discriminator passes).
  """
  from mlm_jax import metrics  # pylint: disable=g-import-not-at-top
  m, o, seq_len = config.model, config.objective, config.data.seq_len
  if o.name in ('mlm', 'electra', 'rts'):
    return metrics.model_flops_per_token(m, seq_len, o.max_predictions)
  if o.name == 'mcl':
    gen, disc = _electra_parts(m, seq_len, o.max_predictions)
    n_gen, n_disc = mcl_passes(o.mcl_courses)
    return n_gen * gen + n_disc * disc
  raise ValueError(f'no FLOPs formula for objective {o.name!r}')


def equal_compute_steps(budget_steps: int, per_token: dict[str, float]) -> dict[str, int]:
  """Steps per objective spending the MLM run's FLOPs (same batch and length for all)."""
  ref = per_token['mlm']
  return {k: max(1, round(budget_steps * ref / v)) for k, v in per_token.items()}


def native_metrics(objective: str, eval_values: dict) -> str:
  parts = []
  for key in NATIVE[objective]:
    if key in eval_values:
      name = 'gen ' + key if key == 'mlm_accuracy' and objective != 'mlm' else key
      parts.append(f'{name} {eval_values[key]:.3f}')
  return ', '.join(parts) or '-'


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
  from mlm_jax import metrics, models, probe, state  # pylint: disable=g-import-not-at-top
  from mlm_jax.data import pipeline  # pylint: disable=g-import-not-at-top

  root, tiny = _WORKDIR.value, _TINY.value
  if not root:
    sys.exit('error: --workdir is required')
  objectives = [o.strip() for o in _OBJECTIVES.value]
  bad = [o for o in objectives if o not in OBJECTIVES]
  if bad:
    sys.exit(f'error: --objectives: {",".join(bad)} not in {",".join(OBJECTIVES)}')
  os.makedirs(root, exist_ok=True)

  # One vocabulary for every run, trained once on the reference config's corpus.
  ref = (smoke if tiny else demo).get_config()
  vocab_path = pipeline.resolve_vocab(ref.data, os.path.join(root, 'vocab')).path
  peak = metrics.measure_peak_flops() if not tiny else 1e11  # one MFU yardstick for all runs

  probe_configs = {o: run_config(o, vocab_path, 1, tiny, peak) for o in set(objectives) | {'mlm'}}
  per_token = {o: flops_per_token(c) for o, c in probe_configs.items()}
  steps = equal_compute_steps(_BUDGET.value, per_token)
  tokens_per_step = ref.train.batch_size * ref.data.seq_len
  for o in objectives:
    print(f'{o}: {per_token[o] / 1e6:.2f} MFLOP/token -> {steps[o]} steps', flush=True)

  runs = {}
  for o in objectives:
    runs[o] = train_or_reuse(o, run_config(o, vocab_path, steps[o], tiny, peak),
                             os.path.join(root, o))

  spec = probe.ProbeSpec(steps=_PROBE_STEPS.value, batch_size=ref.train.batch_size,
                         max_predictions=ref.objective.max_predictions,
                         eval_batches=_PROBE_EVAL.value, seed=ref.seed)
  rows = []
  # Reference: the same probe on a randomly initialised encoder (what the probe gets for free).
  mlm_cfg = probe_configs['mlm']
  random_params = nn.meta.unbox(state.init_variables(
      models.MODELS['bert'](mlm_cfg.model), ref.data.seq_len, jax.random.key(ref.seed)))
  source = pipeline.build_source(mlm_cfg.data, os.path.join(root, 'vocab'))
  print('== probe: random-init encoder', flush=True)
  rand = probe_or_reuse(
      lambda: probe.probe(mlm_cfg.model, random_params, source, ref.data.seq_len, spec),
      os.path.join(root, 'vocab', 'probe_random_init.json'), spec, mlm_cfg.model.to_dict())
  rows.append(dict(name='none (random init)', steps=0, flops=0.0, wall_s=0.0,
                   probe_accuracy=rand['probe_accuracy'], probe_loss=rand['probe_loss'],
                   native=f'probe baseline (most frequent) {rand["probe_baseline_accuracy"]:.3f}'))
  for o in objectives:
    print(f'== probe: {o}', flush=True)
    result = probe_or_reuse(lambda o=o: probe.probe_workdir(os.path.join(root, o), spec),
                            os.path.join(root, o, 'probe.json'), spec, runs[o]['config'])
    rows.append(dict(name=f'{o} ({DOWNSTREAM[o]})', steps=steps[o],
                     flops=per_token[o] * tokens_per_step * steps[o], wall_s=runs[o]['wall_s'],
                     probe_accuracy=result['probe_accuracy'], probe_loss=result['probe_loss'],
                     native=native_metrics(o, runs[o]['eval'])))

  md = table(rows)
  note = (f'\nMLM budget {_BUDGET.value} steps x {tokens_per_step} tokens; probe: '
          f'{spec.steps} Adam steps (lr {spec.learning_rate}) of LayerNorm + Dense(vocab) on the '
          f'frozen encoder, {spec.mask_rate:.0%} of tokens [MASK]ed, held-out accuracy on '
          f'{rand["probe_predictions"]} masked validation tokens ({spec.eval_passes} passes over '
          f'the split, fixed masks). Wall time: train.run (compile, training, final eval).\n')
  with open(os.path.join(root, 'shootout.md'), 'w', encoding='utf-8') as f:
    f.write(md + '\n' + note)
  print(md + '\n' + note, flush=True)


if __name__ == '__main__':
  app.run(main)
