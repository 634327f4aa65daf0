#!/usr/bin/env bash
# All GPUs of one machine in one process (JAX drives every local GPU), bfloat16, cuDNN attention.
#   launch/gpu_local.sh [--install] [--dry-run] CONFIG WORKDIR [--config.key=value ...]
#   --install   pip install -e '.[gpu]' (JAX with CUDA 12) into the active Python first
#   --dry-run   print the environment and command instead of running them
# Later overrides win: pass --config.model.attention_impl=xla to keep attention dropout.
set -euo pipefail
cd "$(dirname "$0")/.."
INSTALL=0 DRY_RUN=0
while [[ $# -gt 0 && $1 == --* && $1 != --config* ]]; do
  case $1 in
    --install) INSTALL=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) echo "error: unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ $# -lt 2 ]]; then sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
CONFIG=$1 WORKDIR=$2
shift 2
# shellcheck source=launch/gpu_env.sh
. launch/gpu_env.sh
PYTHON=${PYTHON:-python}
cmd=("$PYTHON" -m mlm_jax.main "--config=$CONFIG" "--workdir=$WORKDIR" --distributed=off
     "${gpu_overrides[@]}" "$@")
if [[ $DRY_RUN == 1 ]]; then
  echo "+ XLA_FLAGS=$XLA_FLAGS"
  printf '+'; printf ' %q' "${cmd[@]}"; printf '\n'
  exit 0
fi
if [[ $INSTALL == 1 ]]; then "$PYTHON" -m pip install -q -e '.[gpu]'; fi
if ! "$PYTHON" -c 'import jax, sys; sys.exit(not jax.devices("gpu"))' 2>/dev/null; then
  echo "error: JAX sees no GPU; install the CUDA build (launch/gpu_local.sh --install)" >&2
  exit 2
fi
exec "${cmd[@]}"
