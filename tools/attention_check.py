"""Do the attention backends agree on this machine? Runs mlm_jax's Attention block with each
backend on the same packed rows (three documents per row, positions restarting) for each
pattern, and compares outputs and input gradients with the XLA reference. Prints one JSON line
per (backend, pattern, dtype) and a summary; exits 1 when any exceeds its tolerance.

python tools/attention_check.py                  # the backends this platform runs natively
python tools/attention_check.py --impls=splash   # splash in Pallas interpret mode off-TPU

Natively: cudnn on GPU (bfloat16 only: cuDNN's fused attention has no float32 kernel), splash on
TPU. Differences are relative to the reference's largest entry; tolerances 2e-5 in float32,
3e-2 in bfloat16.
"""
import argparse
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mlm_jax.models import attention, splash  # noqa: E402
from tools.synthetic_rows import synthetic_batch  # noqa: E402

PATTERNS = ('bidirectional', 'causal', 'sliding_window')
TOLERANCE = {'float32': 2e-5, 'bfloat16': 3e-2}


def native_impls() -> list[str]:
  return {'gpu': ['cudnn'], 'tpu': ['splash']}.get(jax.default_backend(), [])


def _block(impl: str, pattern: str, dtype: str, heads: int, head_dim: int, window: int):
  return attention.Attention(num_heads=heads, head_dim=head_dim, dropout_rate=0.0,
                             attention_dropout_rate=0.0, init_std=0.02, dtype=jnp.dtype(dtype),
                             impl=impl, deterministic=True, pattern=pattern, window=window)


def compare(impl: str, pattern: str, dtype: str, batch: int = 2, seq_len: int = 256,
            heads: int = 4, head_dim: int = 64, window: int = 128) -> dict:
  """Largest output and input-gradient differences of IMPL from XLA, each relative to the
  reference's largest entry."""
  rows = synthetic_batch(np.random.default_rng(0), batch, seq_len, 100, docs=3)
  segment_ids, positions = jnp.asarray(rows['segment_ids']), jnp.asarray(rows['positions'])
  mask = attention.pattern_mask(pattern, segment_ids, positions, window)
  x = jax.random.normal(jax.random.key(0), (batch, seq_len, heads * head_dim), jnp.float32)
  params = _block('xla', pattern, dtype, heads, head_dim, window).init(
      jax.random.key(1), x, mask, positions, segment_ids)

  def run(name):
    block = _block(name, pattern, dtype, heads, head_dim, window)
    f = lambda x_: block.apply(params, x_, mask, positions, segment_ids).astype(jnp.float32)  # noqa: E731
    out, vjp = jax.vjp(f, x)
    return out, vjp(jnp.cos(out))[0]

  ref_out, ref_grad = run('xla')
  out, grad = run(impl)
  out_diff = float(jnp.max(jnp.abs(out - ref_out)) / jnp.max(jnp.abs(ref_out)))
  grad_diff = float(jnp.max(jnp.abs(grad - ref_grad)) / jnp.max(jnp.abs(ref_grad)))
  tol = TOLERANCE[dtype]
  return {'impl': impl, 'pattern': pattern, 'dtype': dtype, 'seq_len': seq_len,
          'max_rel_out_diff': out_diff, 'max_rel_grad_diff': grad_diff, 'tolerance': tol,
          'equal': out_diff <= tol and grad_diff <= tol}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--impls', default='', help='Comma-separated (default: native ones).')
  parser.add_argument('--seq_len', type=int, default=256)
  parser.add_argument('--dtypes', default='float32,bfloat16')
  args = parser.parse_args()
  impls = args.impls.split(',') if args.impls else native_impls()
  for impl in impls:
    if impl not in ('cudnn', 'splash'):
      sys.exit(f'error: --impls: {impl!r} is not a backend to compare (cudnn, splash)')
  if 'splash' in impls and args.seq_len % splash.BLOCK:
    sys.exit(f'error: --seq_len={args.seq_len}: splash needs a multiple of {splash.BLOCK}')
  rows = []
  for impl in impls:
    for dtype in args.dtypes.split(','):
      if impl == 'cudnn' and dtype == 'float32':
        continue  # cuDNN's fused attention runs in half precision only
      for pattern in PATTERNS:
        rows.append(compare(impl, pattern, dtype, seq_len=args.seq_len))
        print(json.dumps(rows[-1]), flush=True)
  print(json.dumps({'backend': jax.default_backend(), 'device': jax.devices()[0].device_kind,
                    'compared': len(rows), 'all_equal': all(r['equal'] for r in rows)}))
  if not all(r['equal'] for r in rows):
    sys.exit(1)


if __name__ == '__main__':
  main()
