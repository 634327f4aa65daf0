"""Metric reduction, writers (jsonl + TensorBoard), progress line and MFU accounting."""
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

# bf16 dense peak per chip, FLOP/s (datasheets). Unknown kinds fall back to a measured matmul.
PEAK_FLOPS = {
    'TPU v4': 275e12, 'TPU v5 lite': 197e12, 'TPU v5e': 197e12, 'TPU v5p': 459e12,
    'TPU v6 lite': 918e12, 'TPU v6e': 918e12,
    'NVIDIA H100 80GB HBM3': 989e12, 'NVIDIA H100': 989e12, 'NVIDIA H200': 989e12,
    'NVIDIA A100-SXM4-80GB': 312e12, 'NVIDIA A100-SXM4-40GB': 312e12,
}


def reduce(sums: dict) -> dict[str, float]:
  """{'name': (sum, count)} on host -> {'name': sum / count}."""
  out = {}
  for k, v in sums.items():
    if isinstance(v, (tuple, list)) and len(v) == 2:
      total, count = float(v[0]), float(v[1])
      out[k] = total / count if count else float('nan')
  return out


def model_flops_per_token(model_cfg, seq_len: int, predictions_per_row: int) -> float:
  """Training FLOPs per token: 6 x non-embedding params + 12 x layers x hidden x seq_len
  (attention scores and values, forward+backward) + 6 x hidden x vocab x predicted fraction,
  plus the MLM head transform at predicted positions."""
  c = model_cfg
  if c.name == 'electra':
    return _electra_flops_per_token(c, seq_len, predictions_per_row)
  d, f, n = c.hidden_size, c.mlp_dim, c.num_layers
  per_layer = 4 * d * d + _mlp_matrices(c) * d * f
  predicted = predictions_per_row / seq_len
  head = (d * d + d * c.vocab_size) * predicted
  if c.name == 'bert_token_detector':  # RTS/C-RTS: hidden -> hidden -> 1 at every token
    head = d * d + d
  return 6 * n * per_layer + 12 * n * d * seq_len + 6 * head


def _mlp_matrices(c) -> int:
  """d x f matrices in one MLP: wi, wo; a gated MLP (geglu, swiglu) has two input ones."""
  return 2 if c.mlp_kind == 'gelu' else 3


def _electra_flops_per_token(c, seq_len: int, predictions_per_row: int) -> float:
  """Generator + discriminator, each 6 x (layers + embedding projection) + attention; the
  generator's MLM head (hidden -> embedding -> vocab) at predicted positions, the
  discriminator's head (hidden -> hidden -> 1) at every position."""
  from mlm_jax.models import electra  # pylint: disable=g-import-not-at-top
  e, g = electra.embedding_size(c), electra.generator_config(c)

  def encoder(d, f):
    project = e * d if e != d else 0
    per_layer = 4 * d * d + _mlp_matrices(c) * d * f
    return 6 * (c.num_layers * per_layer + project) + 12 * c.num_layers * d * seq_len

  predicted = predictions_per_row / seq_len
  gen = encoder(g.hidden_size, g.mlp_dim) + 6 * (g.hidden_size * e + e * c.vocab_size) * predicted
  disc = encoder(c.hidden_size, c.mlp_dim) + 6 * (c.hidden_size * c.hidden_size + c.hidden_size)
  return gen + disc


def measure_peak_flops(size: int = 2048, repeats: int = 5) -> float:
  """Dense matmul FLOP/s of one device (float32 on CPU, bfloat16 elsewhere)."""
  device = jax.devices()[0]
  dtype = jnp.float32 if device.platform == 'cpu' else jnp.bfloat16
  a = jax.device_put(jnp.ones((size, size), dtype), device)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  best = float('inf')
  for _ in range(repeats):
    t = time.perf_counter()
    f(a).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return 2 * size ** 3 / best


def peak_flops_per_device(configured: float) -> float:
  if configured > 0:
    return configured
  kind = jax.devices()[0].device_kind
  return PEAK_FLOPS.get(kind) or measure_peak_flops()


class Writer:
  """Appends one JSON object per record to WORKDIR/metrics.jsonl and mirrors to TensorBoard."""

  def __init__(self, workdir: str, enabled: bool = True):
    self.enabled = enabled
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a', encoding='utf-8')
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'))

  def write(self, step: int, split: str, values: dict) -> None:
    if not self.enabled:
      return
    record = {'step': int(step), 'split': split}
    record.update({k: _plain(v) for k, v in values.items()})
    self._jsonl.write(json.dumps(record) + '\n')
    self._jsonl.flush()
    for k, v in record.items():
      if isinstance(v, (int, float)) and k != 'step':
        self._tb.add_scalar(f'{split}/{k}', v, step)
    self._tb.flush()

  def close(self) -> None:
    if self.enabled:
      self._jsonl.close()
      self._tb.close()


def _plain(v):
  if isinstance(v, (np.floating, np.integer)):
    return v.item()
  return v


def progress_line(step: int, total: int, values: dict, elapsed_s: float, done_steps: int) -> str:
  rate = done_steps / elapsed_s if elapsed_s > 0 else 0.0
  eta = (total - step) / rate if rate > 0 else 0.0
  return (f'step {step}/{total} | loss {values.get("loss", float("nan")):.4f} | '
          f'acc {values.get("mlm_accuracy", values.get("detection_accuracy", float("nan"))):.3f} | '
          f'{values.get("tokens_per_sec", 0.0):,.0f} tok/s | mfu {values.get("mfu", 0.0):.1%} | '
          f'ETA {int(eta // 60)}m{int(eta % 60):02d}s')


def eval_line(step: int, values: dict) -> str:
  """Loss and MLM numbers when the objective has them, then any other accuracy it reports."""
  parts = [f'eval step {step}: loss {values.get("loss", float("nan")):.4f}']
  if 'mlm_accuracy' in values:
    parts.append(f'mlm acc {values["mlm_accuracy"]:.4f} (most-frequent-token baseline '
                 f'{values.get("baseline_mlm_accuracy", float("nan")):.4f})')
  if 'perplexity' in values:
    parts.append(f'ppl {values["perplexity"]:.1f}')
  parts += [f'{k} {v:.4f}' for k, v in sorted(values.items())
            if k.endswith('accuracy') and k not in ('mlm_accuracy', 'baseline_mlm_accuracy')]
  return ' | '.join(parts)
