"""The PyTorch side of tools/benchmark.py --torch, in a process that imports only torch,
transformers and numpy, so its peak resident memory is the twin's own (benchmark.py takes
peak_rss_mib from here for its own side).

Reads one JSON spec on stdin (transformers class and config.json, optimiser settings, token
ids, labelled fraction, threads, warm-up and timed steps; on a GPU `device: cuda` and `bf16`
for autocast); prints one JSON line: the median step time and the process's peak resident
memory (and its peak GPU memory on a GPU).
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mlm_jax import host_allocator  # noqa: E402  (standard library only: reports the malloc)


def peak_rss_mib() -> float:
  """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the
  parent across fork and exec)."""
  with open('/proc/self/status', encoding='utf-8') as f:
    return next(int(line.split()[1]) for line in f if line.startswith('VmHWM:')) / 1024


def main() -> None:
  import torch  # pylint: disable=g-import-not-at-top  (benchmark.py imports this module too)
  import transformers  # pylint: disable=g-import-not-at-top
  spec = json.loads(sys.stdin.read())
  torch.set_num_threads(spec['threads'])
  torch.manual_seed(0)
  hf_cfg = dict(spec['config'])
  model_type = hf_cfg.pop('model_type')
  hf_cfg.pop('architectures', None)
  device = spec.get('device', 'cpu')
  model = getattr(transformers, spec['class'])(
      transformers.AutoConfig.for_model(model_type, **hf_cfg)).to(device)
  model.train()
  # On a GPU: bf16 autocast and the fused AdamW, PyTorch's own fast path for this step.
  opt = torch.optim.AdamW(model.parameters(), lr=spec['learning_rate'],
                          weight_decay=spec['weight_decay'], fused=device == 'cuda')
  autocast = torch.autocast(device_type=device, dtype=torch.bfloat16,
                            enabled=spec.get('bf16', False))
  ids = torch.tensor(spec['input_ids'], dtype=torch.int64, device=device)
  labels = torch.full_like(ids, -100)
  chosen = torch.from_numpy(np.random.default_rng(0).random(ids.shape) < spec['mask_rate']).to(
      device)
  labels[chosen] = ids[chosen]
  mask = torch.ones_like(ids)
  times = []
  for i in range(spec['warmup'] + spec['steps'] + 1):
    t = time.perf_counter()
    with autocast:
      loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    if device == 'cuda':
      torch.cuda.synchronize()
    if i > spec['warmup']:
      times.append(time.perf_counter() - t)
  result = {'torch_step_time_s': float(np.median(times)), 'torch_peak_rss_mib': peak_rss_mib(),
            'torch_glibc_tunables': os.environ.get('GLIBC_TUNABLES', ''),
            'torch_allocator': host_allocator.name()}
  if device == 'cuda':
    result['torch_peak_device_mib'] = torch.cuda.max_memory_allocated() / 2**20
  print(json.dumps(result))


if __name__ == '__main__':
  main()
