"""Metric reduction, writers (jsonl + TensorBoard), progress line and the peak FLOP/s that MFU
is measured against (FLOPs per token come from each objective: objectives.flops_per_token)."""
import functools
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np

from mlm_jax import fs

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


def constant_answer_loss(labels_BL, weights_BL) -> tuple[jax.Array, jax.Array]:
  """(sum, count) of a detector's best constant answer's binary cross-entropy on this batch:
  the entropy of its positive fraction. A detector whose loss sits at it has learned nothing
  (its accuracy can still look high: 0.87 when 13% of tokens are replaced)."""
  n = weights_BL.sum()
  p = (labels_BL * weights_BL).sum() / jnp.maximum(n, 1.0)
  entropy = jax.scipy.special.entr(p) + jax.scipy.special.entr(1.0 - p)
  return entropy * n, n


@functools.cache  # once per process: runs after the first in one process share its figure
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


MEASURED_AT_START = 'a matmul measured at start'


def peak_flops_source(configured: float) -> tuple[float, str]:
  """(per-device peak FLOP/s, where it came from): train.peak_flops, the device kind's
  datasheet figure, or a matmul measured now (on a busy machine that reads low, and MFU high)."""
  if configured > 0:
    return configured, 'train.peak_flops'
  kind = jax.devices()[0].device_kind
  if kind in PEAK_FLOPS:
    return PEAK_FLOPS[kind], f'{kind} datasheet'
  return measure_peak_flops(), MEASURED_AT_START


def mfu_warning(mfu: float, peak: float, source: str) -> str:
  """One line when an MFU above 100% shows the peak was under-measured, else ''."""
  if mfu <= 1.0 or source != MEASURED_AT_START:
    return ''
  return (f'mfu {100 * mfu:.0f}%: the matmul peak measured at start ({peak / 1e9:.0f} GFLOP/s) '
          'read low (the machine was likely busy then); set train.peak_flops for a true MFU')


def read_records(workdir: str, latest: bool = True) -> list[dict]:
  """WORKDIR/metrics.jsonl's records ([] before the first), in step order. LATEST: one per
  (split, step), the last written (a resumed run re-logs the steps after its checkpoint). A
  line a running process is still writing is skipped."""
  path = os.path.join(workdir, 'metrics.jsonl')
  if not fs.exists(path):
    return []
  text = fs.read_text(path)
  records = [json.loads(line) for line in text.split('\n')[:-1] if line.strip()]
  if not latest:
    return records
  last = {(r['split'], r['step']): r for r in records}
  return sorted(last.values(), key=lambda r: r['step'])


def cpu_model() -> str:
  """The host CPU's model name (benchmarks quote ratios per CPU model: machines differ)."""
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  import platform  # pylint: disable=g-import-not-at-top
  return platform.processor() or platform.machine()


def hardware_summary() -> dict:
  import jaxlib  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  return {'platform': device.platform, 'device_kind': device.device_kind,
          'devices': jax.device_count(), 'local_devices': jax.local_device_count(),
          'processes': jax.process_count(), 'cpu': cpu_model(), 'cpu_cores': os.cpu_count(),
          'jax': jax.__version__, 'jaxlib': jaxlib.__version__}


def _wandb_id(workdir: str) -> str:
  """One W&B run per workdir: a resumed run (preemption) continues the same curves."""
  import hashlib  # pylint: disable=g-import-not-at-top
  return hashlib.sha1(fs.absolute(workdir).encode()).hexdigest()[:16]


def summary_writer_class():
  """tensorboardX's SummaryWriter, imported without torch: tensorboardX imports torch when it is
  installed (it is, for the Hugging Face tools) only to accept torch tensors, which a JAX run
  never logs. Measured: the import 1.4 s -> 0.35 s, the process 248 -> 68 MiB resident."""
  if 'torch' in sys.modules:  # already paid for by this process
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    return SummaryWriter
  sys.modules['torch'] = None  # `import torch` raises ImportError while this entry stands
  try:
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  finally:  # a later `import torch` (an export) loads it as usual
    if 'torch' in sys.modules and sys.modules['torch'] is None:
      del sys.modules['torch']
  return SummaryWriter


class Writer:
  """Appends one JSON object per record to WORKDIR/metrics.jsonl and mirrors to TensorBoard
  (with the config and the hardware as text) and, when asked, to Weights & Biases.

  A gs:// workdir gets both written to a local staging directory and uploaded at most every
  train.remote_flush_seconds (and at close): GCS has no append, so each upload rewrites whole
  objects, and uploading at every record would make process 0 keep the others waiting."""

  def __init__(self, workdir: str, enabled: bool = True, config=None):
    self.enabled = enabled
    self._wandb = None
    if not enabled:
      return
    fs.makedirs(workdir)
    self._workdir = workdir
    self._staging = None
    local = workdir
    if fs.is_remote(workdir):
      import tempfile  # pylint: disable=g-import-not-at-top
      self._staging = tempfile.TemporaryDirectory(prefix='mlm_jax_metrics_')
      local = self._staging.name
      remote_jsonl = os.path.join(workdir, 'metrics.jsonl')
      if fs.exists(remote_jsonl):  # a resumed run appends to what the workdir holds
        fs.copy(remote_jsonl, os.path.join(local, 'metrics.jsonl'))
    train_cfg = config.train if config is not None else {}
    self._flush_every_s = float(train_cfg.get('remote_flush_seconds', 30.0))
    self._uploaded_at = 0.0
    self._jsonl = open(os.path.join(local, 'metrics.jsonl'), 'a', encoding='utf-8')
    self._tb = summary_writer_class()(os.path.join(local, 'tensorboard'))
    if config is None:
      return
    self._tb.add_text('config', '```\n' + config.to_json(indent=2) + '\n```', 0)
    hardware = hardware_summary()
    self._tb.add_text('hardware', '\n'.join(f'- {k}: {v}' for k, v in hardware.items()), 0)
    project = config.train.get('wandb_project', '')
    if project:
      import wandb  # pylint: disable=g-import-not-at-top  # validated: installed
      self._wandb = wandb.init(project=project, name=os.path.basename(os.path.normpath(workdir)),
                               id=_wandb_id(workdir), resume='allow',
                               dir=None if self._staging else workdir,
                               config={**config.to_dict(), 'hardware': hardware})

  def write(self, step: int, split: str, values: dict) -> None:
    if not self.enabled:
      return
    record = {'step': int(step), 'split': split}
    record.update({k: _plain(v) for k, v in values.items()})
    self._jsonl.write(json.dumps(record) + '\n')
    self._jsonl.flush()
    scalars = {f'{split}/{k}': v for k, v in record.items()
               if isinstance(v, (int, float)) and k != 'step'}
    for k, v in scalars.items():
      self._tb.add_scalar(k, v, step)
    self._tb.flush()
    self._upload()
    if self._wandb is not None:
      self._wandb.log(scalars, step=int(step))

  def _upload(self, force: bool = False) -> None:
    if self._staging is None or not (force or time.time() - self._uploaded_at
                                     >= self._flush_every_s):
      return
    fs.upload_tree(self._staging.name, self._workdir)
    self._uploaded_at = time.time()

  def close(self) -> None:
    if self.enabled:
      self._jsonl.close()
      self._tb.close()
      self._upload(force=True)
      if self._staging is not None:
        self._staging.cleanup()
      if self._wandb is not None:
        self._wandb.finish()


def _plain(v):
  if isinstance(v, (np.floating, np.integer)):
    return v.item()
  return v


def progress_line(step: int, total: int, values: dict, elapsed_s: float, done_steps: int,
                  headline: str) -> str:
  """HEADLINE is the objective's declared metric (objectives/objective.py)."""
  rate = done_steps / elapsed_s if elapsed_s > 0 else 0.0
  eta = (total - step) / rate if rate > 0 else 0.0
  return (f'step {step}/{total} | loss {values.get("loss", float("nan")):.4f} | '
          f'{headline} {values.get(headline, float("nan")):.3f} | '
          f'{values.get("tokens_per_sec", 0.0):,.0f} tok/s | mfu {values.get("mfu", 0.0):.1%} | '
          f'ETA {int(eta // 60)}m{int(eta % 60):02d}s')


def with_baseline(key: str, values: dict) -> str:
  """'KEY value', with the run's baseline_KEY beside it when it logs one: the most frequent
  target token for masked-LM accuracy, a constant answer for detection accuracy and loss."""
  text = f'{key} {values.get(key, float("nan")):.4f}'
  base = values.get(f'baseline_{key}')
  if base is None:
    return text
  kind = 'most-frequent-token' if key == 'mlm_accuracy' else 'constant-answer'
  return f'{text} ({kind} baseline {base:.4f})'


def eval_line(step: int, values: dict, headline: str) -> str:
  """Loss, the objective's headline metric (with its baseline and the perplexity when the run
  reports them), then every other accuracy it reports and every part loss with a baseline, each
  beside its baseline."""
  parts = [f'eval step {step}: {with_baseline("loss", values)}', with_baseline(headline, values)]
  if 'perplexity' in values:
    parts.append(f'ppl {values["perplexity"]:.1f}')
  parts += [with_baseline(k, values) for k in sorted(values)
            if k.endswith('accuracy') and k != headline and not k.startswith('baseline_')]
  parts += [with_baseline(k, values) for k in sorted(values)
            if k.endswith('_loss') and f'baseline_{k}' in values]
  return ' | '.join(parts)
