# shellcheck shell=bash
# Environment for GPU training, sourced by gpu_local.sh and gpu_slurm.sbatch. Each flag is one
# that matters for throughput on NVIDIA GPUs; tests/test_launchers.py checks that the installed
# jaxlib knows every one (XLA aborts on an unknown flag).
gpu_xla_flags=(
  # Schedule collectives to overlap with compute instead of in program order.
  --xla_gpu_enable_latency_hiding_scheduler=true
  # cuBLAS for matmuls: Triton GEMM fusions are slower than cuBLAS for these shapes.
  --xla_gpu_enable_triton_gemm=false
  # Collectives on the highest-priority stream, so compute never starves them.
  --xla_gpu_enable_highest_priority_async_stream=true
  # Fewer, larger gradient all-reduces (128 MiB buckets) across processes.
  --xla_gpu_all_reduce_combine_threshold_bytes=134217728
  # Prefetch next layer's FSDP all-gather while this layer computes (nn.scan over layers).
  --xla_gpu_enable_pipelined_all_gather=true
  --xla_gpu_enable_while_loop_double_buffering=true
)
export XLA_FLAGS="${gpu_xla_flags[*]} ${XLA_FLAGS:-}"
# Keep 10% of GPU memory for cuDNN/NCCL workspaces outside XLA's preallocated pool.
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}
# bfloat16 compute and the fused cuDNN attention kernel (it has no attention dropout).
# shellcheck disable=SC2034  # read by the scripts that source this file
gpu_overrides=(--config.model.dtype=bfloat16 --config.model.attention_impl=cudnn
               --config.model.attention_dropout_rate=0)
