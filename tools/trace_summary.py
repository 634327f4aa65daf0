"""Where a training step's device time goes, from a JAX profiler trace (the perfetto JSON that
`jax.profiler.trace(dir, create_perfetto_trace=True)` writes), with no TensorBoard or xprof.

summarize() sums the kernels' durations per step, groups them by kind (matmul, attention,
fusion, reduction, gather/scatter, copy, other) and lists the costliest by name. With the step's
wall time it also gives the busy fraction: well below 1 means the device waits on the host
(launch gaps, synchronisation), not on its kernels.

Which events count as the device's:
- GPU: the kernels on the device process's "Stream #N" threads (the trace also carries derived
  lines such as "XLA Modules" and "Steps" that span those kernels and would count them twice);
- TPU: the device process's "XLA Ops" thread;
- CPU (no device process): the XLA client's op events, less its thread-pool bookkeeping.
"""
import collections
import glob
import gzip
import json
import os
import re

# kind -> name fragments, tried in this order (an attention kernel may also say "gemm").
KINDS = (
    ('attention', ('sdpa', 'fmha', 'flash', 'splash', 'attention')),
    ('matmul', ('gemm', 'xmma', 'cutlass', 'matmul', 'convolution', 'dot')),
    ('copy', ('memcpy', 'memset', 'copy')),
    ('gather/scatter', ('scatter', 'gather', 'dynamic-update', 'dynamic_update')),
    ('reduction', ('reduce',)),
    ('fusion', ('fusion',)),
)
_CPU_BOOKKEEPING = ('ThreadpoolListener', 'ThunkExecutor', 'SlinkyThreadPool', 'end: ')
_INSTANCE = re.compile(r'[._]\d+$')  # loop_add_fusion.12, gemm_fusion_dot_3 -> one family


def kind(name: str) -> str:
  lowered = name.lower()
  for label, fragments in KINDS:
    if any(f in lowered for f in fragments):
      return label
  return 'other'


def load_events(trace_dir: str) -> list:
  """The trace events of the newest perfetto trace under TRACE_DIR."""
  paths = glob.glob(os.path.join(trace_dir, '**', 'perfetto_trace.json.gz'), recursive=True)
  if not paths:
    raise FileNotFoundError(f'{trace_dir}: no perfetto_trace.json.gz (was the trace written with '
                            'create_perfetto_trace=True?)')
  with gzip.open(max(paths, key=os.path.getmtime), 'rt') as f:
    data = json.load(f)
  return data['traceEvents'] if isinstance(data, dict) else data


def device_events(events: list) -> list:
  """The complete ('X') events that are device work (see the module docstring)."""
  process, thread = {}, {}
  for e in events:
    if e.get('ph') == 'M' and e.get('name') == 'process_name':
      process[e['pid']] = e['args']['name']
    elif e.get('ph') == 'M' and e.get('name') == 'thread_name':
      thread[(e['pid'], e['tid'])] = e['args']['name']
  complete = [e for e in events if e.get('ph') == 'X' and 'dur' in e]
  devices = {pid for pid, name in process.items() if name.startswith('/device:')}
  if devices:
    on_device = [e for e in complete if e['pid'] in devices]
    streams = [e for e in on_device
               if thread.get((e['pid'], e['tid']), '').startswith('Stream')]
    return streams or [e for e in on_device if thread.get((e['pid'], e['tid'])) == 'XLA Ops']
  return [e for e in complete
          if thread.get((e['pid'], e['tid']), '').startswith('tf_XLA')
          and not e['name'].startswith(_CPU_BOOKKEEPING)]


def summarize(events: list, steps: int, step_s: float | None = None, top: int = 15) -> dict:
  """Device seconds per step, the share of each kind, the TOP costliest kernels by name, and the
TOP costliest families (names less their instance number: all loop_add_fusion.N together)."""
  work = device_events(events)
  if not work:
    raise ValueError('the trace holds no device events')
  per_name = collections.defaultdict(lambda: [0.0, 0])
  for e in work:
    per_name[e['name']][0] += e['dur'] * 1e-6  # trace durations are microseconds
    per_name[e['name']][1] += 1
  total = sum(s for s, _ in per_name.values())
  by_kind = collections.Counter()
  for name, (s, _) in per_name.items():
    by_kind[kind(name)] += s / total
  costliest = sorted(per_name.items(), key=lambda kv: -kv[1][0])[:top]
  per_family = collections.Counter()
  for name, (s, _) in per_name.items():
    per_family[_INSTANCE.sub('', name)] += s / total
  out = {'device_s_per_step': total / steps,
         'by_kind': dict(by_kind.most_common()),
         'top': [{'name': name[:120], 'kind': kind(name), 'share': s / total,
                  's_per_step': s / steps, 'calls_per_step': n / steps}
                 for name, (s, n) in costliest],
         'top_families': dict(per_family.most_common(top))}
  if step_s:
    out['busy_fraction'] = out['device_s_per_step'] / step_s
  return out
