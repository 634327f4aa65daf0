#!/usr/bin/env bash
# All GPUs of one machine in one process (JAX drives every local GPU).
#   launch/gpu_single_node.sh configs/bert.py:size=base /data/runs/bert_base [overrides...]
set -euo pipefail
CONFIG=$1 WORKDIR=$2
shift 2
cd "$(dirname "$0")/.."
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}
exec python -m mlm_jax.main --config="$CONFIG" --workdir="$WORKDIR" \
  --config.model.dtype=bfloat16 "$@"
