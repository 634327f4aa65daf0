#!/usr/bin/env bash
# The GPU check (issue 14), one script a GPU machine runs in under 6 minutes, compiles included:
#  1. the attention backends agree with the XLA reference on this GPU (cuDNN, bfloat16; packed
#     rows; bidirectional, causal and sliding-window patterns);
#  2. bf16 training throughput and MFU at sequence length 512 of configs/bert.py:size=base
#     (XLA attention beside its transformers PyTorch twin, bf16 autocast and fused AdamW on the
#     same GPU; then cuDNN attention with attention dropout off under the GPU launchers'
#     environment, launch/gpu_env.sh) and ModernBERT-base beside its twin; both BERT lines carry
#     a 'profile' of where the device time goes (tools/trace_summary.py).
# Prints JSON lines only (one per check) on stdout; progress goes to stderr.
#
#   tools/gpu_check.sh [BATCH]          # BATCH per step at seq 512, default 64
#
# GPU_CHECK_SHRINK: overrides appended to each benchmark (the CPU test makes the models tiny).
#
# Needs jax[cuda], flax, optax, orbax, torch, transformers and ml-collections; no TensorFlow or
# seqio (the benchmark path never imports them). Without network, install ml-collections from a
# wheel first: MLM_JAX_WHEELS=DIR tools/gpu_check.sh (pip install --no-index --find-links DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
batch="${1:-64}"
py="${PYTHON:-python}"
if ! "$py" -c 'import ml_collections' 2>/dev/null; then
  "$py" -m pip install -q --no-index --find-links "${MLM_JAX_WHEELS:?ml_collections missing: set MLM_JAX_WHEELS to a wheel directory}" ml-collections >&2
fi
export JAX_PLATFORMS="${JAX_PLATFORMS:-cuda}"  # the test runs it on cpu, shrunk
export TF_CPP_MIN_LOG_LEVEL=2

echo "== attention backends" >&2
"$py" tools/attention_check.py --seq_len=512 --dtypes=bfloat16

bench() {  # bench CONFIG [FLAGS...]
  echo "== benchmark $*" >&2
  local config="$1"
  shift
  "$py" tools/benchmark.py --config="$config" --steps=10 --warmup=2 --batch_size="$batch" \
    --config.data.seq_len=512 --config.model.dtype=bfloat16 "$@" ${GPU_CHECK_SHRINK:-} | tail -1
}
profiles="$(mktemp -d)"
trap 'rm -rf "$profiles"' EXIT
bench configs/bert.py:size=base,seq_len=512 --torch --profile="$profiles/xla"
if [[ "$JAX_PLATFORMS" == cuda ]]; then  # cuDNN attention exists on GPUs only
  # Under the GPU launchers' XLA flags (launch/gpu_env.sh), as a user's run gets them: on an
  # H100 1.07x the bare environment (its flags swap Triton GEMM fusions, 7.4% of the device
  # time there, for cuBLAS). The JSON line's xla_flags says which environment it ran under.
  (
    # shellcheck source=launch/gpu_env.sh
    source launch/gpu_env.sh
    bench configs/bert.py:size=base,seq_len=512 "${gpu_overrides[@]}" --profile="$profiles/cudnn"
  )
fi
bench configs/modernbert.py:size=base --torch
