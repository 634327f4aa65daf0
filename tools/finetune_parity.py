"""Fine-tuning parity: the same Hugging Face BERT checkpoint fine-tuned on a GLUE task by mlm_jax
and by a plain transformers/PyTorch loop, on identical inputs, batch order, epochs, learning
rate, schedule (linear warmup + decay), AdamW settings, clipping and dropout; several seeds
each; dev accuracy medians and training throughput side by side.

python tools/finetune_parity.py --hf_dir=/tmp/minilm --glue_dir=../shared/data/glue \
    --train_examples=2000 --epochs=2 --seq_len=64 --seeds=0,1,2 --workdir=/tmp/parity

Both sides read the same token arrays (mlm_jax's GLUE features for that checkpoint's
tokenizer) and the same batch rows per step (runner._rows); the PyTorch side uses
BertForSequenceClassification (pooler loaded from the checkpoint, classifier fresh), as the
mlm_jax side does with finetune.head_activation=tanh.
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

_HF = flags.DEFINE_string('hf_dir', None, 'Local Hugging Face BERT directory.', required=True)
_GLUE = flags.DEFINE_string('glue_dir', None, 'GLUE root (original TSV layout).', required=True)
_TASK = flags.DEFINE_string('task', 'sst2', 'GLUE classification task.')
_N = flags.DEFINE_integer('train_examples', 2000, 'Training subset (seeded, fixed across seeds).')
_DEV = flags.DEFINE_integer('eval_examples', 0, 'Dev subset both loops score (0: all).')
_EPOCHS = flags.DEFINE_float('epochs', 2.0, 'Epochs.')
_LR = flags.DEFINE_float('lr', 1e-4, 'Peak learning rate.')
_BATCH = flags.DEFINE_integer('batch_size', 32, 'Batch size.')
_SEQ = flags.DEFINE_integer('seq_len', 64, 'Tokens per example.')
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds.')
_WORKDIR = flags.DEFINE_string('workdir', '/tmp/finetune_parity', 'Output root.')
_SIDES = flags.DEFINE_list('sides', ['jax', 'torch'], 'Which loops to run.')


def jax_config(seed: int):
  import ml_collections  # pylint: disable=g-import-not-at-top
  from configs import glue as glue_config  # pylint: disable=g-import-not-at-top
  c = ml_collections.ConfigDict(glue_config.get_config(f'task={_TASK.value}').to_dict())
  c.seed = seed
  c.init_from.hf_dir = _HF.value
  c.finetune.data_dir = _GLUE.value
  c.finetune.train_examples = _N.value
  c.finetune.eval_examples = _DEV.value
  c.finetune.epochs = _EPOCHS.value
  c.finetune.max_seq_len = _SEQ.value
  c.finetune.init_token_type_1_from_0 = False  # a real checkpoint has a trained type 1 row
  c.train.learning_rate = _LR.value
  c.train.batch_size = c.eval.batch_size = _BATCH.value
  c.train.log_every_steps = 10
  c.checkpoint.every_steps = 100_000
  return c


def run_jax(seed: int) -> dict:
  from mlm_jax.finetune import runner  # pylint: disable=g-import-not-at-top
  workdir = os.path.join(_WORKDIR.value, 'jax', f'seed_{seed}')
  t0 = time.time()
  result = runner.run(jax_config(seed), workdir)
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    train = [r for r in map(json.loads, f) if r['split'] == 'train']
  rate = statistics.median(r['examples_per_sec'] for r in train[1:] or train)  # first has compile
  return {'accuracy': result['accuracy'], 'examples_per_sec': rate, 'wall_s': time.time() - t0}


def run_torch(seed: int, data) -> dict:
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from transformers import (BertForSequenceClassification,  # pylint: disable=g-import-not-at-top
                            get_linear_schedule_with_warmup)
  from mlm_jax.finetune import runner  # pylint: disable=g-import-not-at-top
  torch.manual_seed(seed)
  t0 = time.time()
  model = BertForSequenceClassification.from_pretrained(_HF.value, num_labels=data.num_labels)
  n = len(data.train['input_ids'])
  steps = max(1, int(round(_EPOCHS.value * (n // _BATCH.value))))
  decay = [p for k, p in model.named_parameters() if not any(s in k for s in ('bias', 'LayerNorm'))]
  no_decay = [p for k, p in model.named_parameters() if any(s in k for s in ('bias', 'LayerNorm'))]
  opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.01},
                           {'params': no_decay, 'weight_decay': 0.0}], lr=_LR.value,
                          betas=(0.9, 0.999), eps=1e-6)
  sched = get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)
  tensors = lambda a, rows: {  # noqa: E731
      'input_ids': torch.from_numpy(a['input_ids'][rows]).long(),
      'attention_mask': torch.from_numpy(a['segment_ids'][rows]).long(),
      'token_type_ids': torch.from_numpy(a['token_type_ids'][rows]).long()}
  model.train()
  times = []
  for step in range(steps):
    t = time.time()
    rows = runner._rows(step, n, _BATCH.value, seed)  # pylint: disable=protected-access
    out = model(**tensors(data.train, rows),
                labels=torch.from_numpy(data.train['label'][rows]).long())
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad()
    times.append(time.time() - t)
  model.eval()
  (name, dev), = data.dev.items()
  logits = []
  with torch.no_grad():
    for s in range(0, len(dev['input_ids']), _BATCH.value):
      rows = np.arange(s, min(s + _BATCH.value, len(dev['input_ids'])))
      logits.append(model(**tensors(dev, rows)).logits.numpy())
  result = data.evaluate(name, np.concatenate(logits))
  rate = _BATCH.value / statistics.median(times[1:] or times)
  return {'accuracy': result['accuracy'], 'examples_per_sec': rate, 'wall_s': time.time() - t0}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO
  import ml_collections  # pylint: disable=g-import-not-at-top
  from mlm_jax.finetune import runner  # pylint: disable=g-import-not-at-top
  os.makedirs(_WORKDIR.value, exist_ok=True)
  config = ml_collections.ConfigDict(jax_config(0).to_dict())
  data, _, _ = runner.build_task(config, None)  # the arrays both loops read
  out_path = os.path.join(_WORKDIR.value, 'parity.json')
  results = json.load(open(out_path)) if os.path.isfile(out_path) else {}
  for seed in map(int, _SEEDS.value):
    for side in _SIDES.value:
      key = f'{side}/seed_{seed}'
      if key in results:
        continue
      results[key] = run_jax(seed) if side == 'jax' else run_torch(seed, data)
      print(key, results[key], flush=True)
      with open(out_path, 'w') as f:
        json.dump(results, f, indent=2)
  print(f'\n{_TASK.value}: {_N.value} training examples, {_EPOCHS.value:g} epochs, lr {_LR.value:g}, '
        f'batch {_BATCH.value}, seq {_SEQ.value}, seeds {",".join(_SEEDS.value)}')
  print('| loop | dev accuracy per seed | median | train examples/s (median) |')
  print('|---|---|---|---|')
  for side in _SIDES.value:
    rs = [results[f'{side}/seed_{s}'] for s in _SEEDS.value if f'{side}/seed_{s}' in results]
    accs = [r['accuracy'] for r in rs]
    print(f'| {side} | {", ".join(f"{a:.4f}" for a in accs)} | {statistics.median(accs):.4f} | '
          f'{statistics.median(r["examples_per_sec"] for r in rs):.1f} |')


if __name__ == '__main__':
  app.run(main)
