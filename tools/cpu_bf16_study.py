"""Does any XLA:CPU setting reach the CPU's bfloat16 units? Times a float32 and a bfloat16
matmul (N×N, 2 threads' worth of work, JAX's own jit) under each candidate XLA_FLAGS setting,
each in a fresh process (XLA reads its flags once), and prints one JSON line per setting plus a
summary: GFLOP/s per dtype and the bf16/f32 ratio. PyTorch's oneDNN is timed beside it with
--torch (its bf16 rate is what the issue measured at 2.2x float32 on a Zen 4).

python tools/cpu_bf16_study.py [--n=2048] [--repeats=10] [--torch]
"""
import argparse
import json
import os
import subprocess
import sys
import time

# Candidate settings: XLA:CPU's library back-ends that have bf16 kernels (oneDNN, XNNPACK,
# YNNPACK) and the ISA cap, each alone. Flag names are jaxlib 0.10's; an unknown flag makes XLA
# abort, which the study reports as such rather than skipping.
SETTINGS = {
    'default': '',
    'onednn': '--xla_cpu_use_onednn=true',
    'onednn_custom_call': '--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true',
    'onednn_fusion_dot': '--xla_cpu_experimental_onednn_fusion_type=dot',
    'xnnpack_dot': '--xla_cpu_use_xnnpack=true --xla_cpu_experimental_xnn_fusion_type=dot',
    'ynnpack_dot': '--xla_cpu_experimental_ynn_fusion_type=dot',
    'max_isa_avx512': '--xla_cpu_max_isa=AVX512',
    'fast_math': '--xla_cpu_enable_fast_math=true',
}


def _time_jax(n: int, repeats: int) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  out = {}
  for dtype in ('float32', 'bfloat16'):
    a = jax.random.normal(jax.random.key(0), (n, n)).astype(dtype)
    b = jax.random.normal(jax.random.key(1), (n, n)).astype(dtype)
    f = jax.jit(jnp.matmul)
    f(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
      t = time.perf_counter()
      f(a, b).block_until_ready()
      times.append(time.perf_counter() - t)
    out[f'{dtype}_gflops'] = 2 * n**3 / sorted(times)[len(times) // 2] / 1e9
  out['bf16_over_f32'] = out['bfloat16_gflops'] / out['float32_gflops']
  return out


def _time_torch(n: int, repeats: int) -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(2)
  out = {}
  for name, dtype in (('float32', torch.float32), ('bfloat16', torch.bfloat16)):
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    times = []
    for _ in range(repeats):
      t = time.perf_counter()
      a @ b
      times.append(time.perf_counter() - t)
    out[f'{name}_gflops'] = 2 * n**3 / sorted(times)[len(times) // 2] / 1e9
  out['bf16_over_f32'] = out['bfloat16_gflops'] / out['float32_gflops']
  return out


def _child(args) -> None:
  result = _time_torch(args.n, args.repeats) if args.child == 'torch' else _time_jax(
      args.n, args.repeats)
  print(json.dumps(result))


def run_setting(name: str, flags: str, n: int, repeats: int) -> dict:
  """One setting's timings, measured in a fresh process; {'error': last stderr line} if XLA
  refused the flags."""
  env = {**os.environ, 'XLA_FLAGS': flags, 'JAX_PLATFORMS': 'cpu'}
  child = subprocess.run([sys.executable, __file__, f'--child={"torch" if name == "torch" else "jax"}',
                          f'--n={n}', f'--repeats={repeats}'], env=env, capture_output=True,
                         text=True, check=False)
  row = {'setting': name, 'xla_flags': flags}
  if child.returncode:
    lines = child.stderr.strip().splitlines()
    return {**row, 'error': lines[-1] if lines else f'exit {child.returncode}'}
  return {**row, **json.loads(child.stdout.strip().splitlines()[-1])}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--n', type=int, default=2048)
  parser.add_argument('--repeats', type=int, default=10)
  parser.add_argument('--torch', action='store_true')
  parser.add_argument('--only', default='', help='Comma-separated settings (default: all).')
  parser.add_argument('--child', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    _child(args)
    return
  names = args.only.split(',') if args.only else list(SETTINGS)
  unknown = [n for n in names if n not in SETTINGS]
  if unknown:
    sys.exit(f'error: --only: unknown setting {unknown[0]!r}; known: {", ".join(SETTINGS)}')
  rows = [run_setting(n, SETTINGS[n], args.n, args.repeats) for n in names]
  if args.torch:
    rows.append(run_setting('torch', '', args.n, args.repeats))
  for row in rows:
    print(json.dumps(row))
  from mlm_jax import metrics  # pylint: disable=g-import-not-at-top
  timed = [r for r in rows if 'error' not in r and r['setting'] != 'torch']
  best = max(timed, key=lambda r: r['bfloat16_gflops'], default=None)
  print(json.dumps({'cpu': metrics.cpu_model(), 'n': args.n,
                    'best_jax_bf16': best and best['setting'],
                    'best_jax_bf16_over_f32': best and best['bf16_over_f32']}))


if __name__ == '__main__':
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  main()
