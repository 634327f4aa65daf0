"""tools/trace_summary.py: device events picked from a GPU-shaped trace (derived lines not counted
twice), kinds and shares per step, and a real CPU trace of a jitted function."""
import jax
import jax.numpy as jnp
import pytest

from tools import trace_summary


def _gpu_trace():
  meta = [{'ph': 'M', 'name': 'process_name', 'pid': 1, 'args': {'name': '/host:CPU'}},
          {'ph': 'M', 'name': 'process_name', 'pid': 2, 'args': {'name': '/device:GPU:0'}},
          {'ph': 'M', 'name': 'thread_name', 'pid': 2, 'tid': 7,
           'args': {'name': 'Stream #7(Compute)'}},
          {'ph': 'M', 'name': 'thread_name', 'pid': 2, 'tid': 8, 'args': {'name': 'XLA Modules'}}]
  kernels = [('sm90_xmma_gemm_bf16bf16_bf16f32', 600),
             ('cudnn_generated_fort_native_sdpa_fwd', 200),
             ('loop_add_fusion_3', 60), ('loop_add_fusion.4', 40), ('input_reduce_fusion_1', 60),
             ('MemcpyH2D', 40)]
  events = []
  for step in range(2):
    for name, dur in kernels:
      events.append({'ph': 'X', 'pid': 2, 'tid': 7, 'name': name, 'ts': step, 'dur': dur})
    events.append({'ph': 'X', 'pid': 2, 'tid': 8, 'name': 'jit_train_step', 'ts': step,
                   'dur': 1000})
    events.append({'ph': 'X', 'pid': 1, 'tid': 1, 'name': 'PjitFunction', 'ts': step, 'dur': 1500})
  return meta + events


def test_gpu_kernels_are_summed_per_step_by_kind():
  s = trace_summary.summarize(_gpu_trace(), steps=2, step_s=2e-3, top=2)
  assert s['device_s_per_step'] == pytest.approx(1e-3)  # the module line is not counted again
  assert s['busy_fraction'] == pytest.approx(0.5)
  assert s['by_kind'] == pytest.approx({'matmul': 0.6, 'attention': 0.2, 'fusion': 0.1,
                                        'reduction': 0.06, 'copy': 0.04})
  assert [t['name'] for t in s['top']] == ['sm90_xmma_gemm_bf16bf16_bf16f32',
                                          'cudnn_generated_fort_native_sdpa_fwd']
  families = trace_summary.summarize(_gpu_trace(), steps=2)['top_families']
  assert families['loop_add_fusion'] == pytest.approx(0.1)
  assert s['top'][0]['calls_per_step'] == 1 and s['top'][0]['s_per_step'] == pytest.approx(6e-4)


def test_a_trace_without_device_work_is_refused():
  with pytest.raises(ValueError, match='no device events'):
    trace_summary.summarize(_gpu_trace()[:4], steps=1)


def test_a_real_cpu_trace_is_summarized(tmp_path):
  f = jax.jit(lambda a: jnp.tanh(a @ a).sum())
  a = jnp.ones((256, 256))
  f(a).block_until_ready()
  with jax.profiler.trace(str(tmp_path), create_perfetto_trace=True):
    for _ in range(3):
      f(a).block_until_ready()
  s = trace_summary.summarize(trace_summary.load_events(str(tmp_path)), steps=3)
  assert s['device_s_per_step'] > 0 and s['top']
  assert sum(s['by_kind'].values()) == pytest.approx(1.0)
  assert not any(t['name'].startswith('ThreadpoolListener') for t in s['top'])
  with pytest.raises(FileNotFoundError, match='perfetto_trace'):
    trace_summary.load_events(str(tmp_path / 'missing'))
