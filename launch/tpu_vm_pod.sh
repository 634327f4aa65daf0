#!/usr/bin/env bash
# Run one config on every host of a Cloud TPU VM pod slice. JAX detects the pod itself
# (TPU_WORKER_HOSTNAMES), so each host runs the same command; WORKDIR must be shared (gs://).
#   launch/tpu_vm_pod.sh TPU_NAME ZONE configs/bert.py:size=base gs://BUCKET/runs/bert_base [overrides...]
set -euo pipefail
TPU_NAME=$1 ZONE=$2 CONFIG=$3 WORKDIR=$4
shift 4
REPO_URL=${REPO_URL:?set REPO_URL to where hosts can clone mlm_jax from}
gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all --command="
  set -e
  [ -d mlm_jax ] || git clone $REPO_URL mlm_jax
  cd mlm_jax && pip install -q -e '.[tpu]'
  python -m mlm_jax.main --config=$CONFIG --workdir=$WORKDIR $*
"
# Preemption and maintenance events send SIGTERM: the run checkpoints and exits 0; run the
# same command again to resume.
