#!/usr/bin/env bash
# Train on a Cloud TPU VM or pod slice: create (or reuse) it, install one pinned commit of
# mlm_jax in a venv on every worker, start the same command on all workers detached (a dropped
# ssh does not stop the run), stream worker 0's log, and after a preemption re-create the slice
# and resume into the same workdir.
#
#   launch/tpu_vm.sh [options] NAME ZONE CONFIG gs://BUCKET/WORKDIR [--config.key=value ...]
#
#   --accelerator TYPE  create the slice if it does not exist (v4-32, v5litepod-16, v6e-8 ...)
#   --version RUNTIME   TPU software version for creation (default: the one for TYPE's family)
#   --spot              create as spot capacity (preemptible; implies --relaunch)
#   --queued            create through a queued resource (waits for capacity)
#   --relaunch N        after a preemption, re-create and resume up to N times (default 0)
#   --commit SHA        commit to install (default: this checkout's HEAD, which must be pushed)
#   --repo URL          where workers clone mlm_jax from (default: this checkout's origin)
#   --workers N         workers in the slice, for --dry-run (a real run asks gcloud)
#   --dry-run           print every command instead of running it
#
# The workdir must be shared by all workers: gs://. Preemption sends SIGTERM; every worker
# checkpoints the same step and exits 0 (mlm_jax/preemption.py), and the next launch resumes.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

ACCELERATOR='' VERSION='' SPOT=0 QUEUED=0 RELAUNCH=0 COMMIT='' REPO='' WORKERS='' DRY_RUN=0
while [[ $# -gt 0 && $1 == --* && $1 != --config* ]]; do
  case $1 in
    --accelerator) ACCELERATOR=$2; shift 2 ;;
    --version) VERSION=$2; shift 2 ;;
    --spot) SPOT=1; shift ;;
    --queued) QUEUED=1; shift ;;
    --relaunch) RELAUNCH=$2; shift 2 ;;
    --commit) COMMIT=$2; shift 2 ;;
    --repo) REPO=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) echo "error: unknown option $1" >&2; usage ;;
  esac
done
[[ $# -ge 4 ]] || usage
NAME=$1 ZONE=$2 CONFIG=$3 WORKDIR=$4
shift 4
OVERRIDES=("$@")
if [[ $WORKDIR != gs://* ]]; then
  echo "error: WORKDIR=$WORKDIR: every worker must see it; use a gs:// path" >&2
  exit 2
fi
if [[ $SPOT == 1 && $RELAUNCH == 0 ]]; then RELAUNCH=10; fi

HERE=$(cd "$(dirname "$0")/.." && pwd)
COMMIT=${COMMIT:-$(git -C "$HERE" rev-parse HEAD)}
REPO=${REPO:-$(git -C "$HERE" remote get-url origin 2>/dev/null || true)}
if [[ -z $REPO ]]; then
  echo "error: no --repo given and this checkout has no origin remote" >&2
  exit 2
fi

# Hosts of a slice: v2/v3/v4/v5p name TensorCores (8 per host); v5e/v6e name chips (4 per host
# in multi-host slices, up to 8 on one host). Used for --dry-run; a real run counts endpoints.
hosts_of() {
  local family=${1%-*} n=${1##*-}
  case $family in
    v5litepod|v5e|v6e) if ((n <= 8)); then echo 1; else echo $((n / 4)); fi ;;
    *) if ((n <= 8)); then echo 1; else echo $((n / 8)); fi ;;
  esac
}

default_version() {
  case ${1%-*} in
    v2|v3) echo tpu-ubuntu2204-base ;;
    v4) echo tpu-ubuntu2204-base ;;
    v5litepod|v5e) echo v2-alpha-tpuv5-lite ;;
    v5p) echo v2-alpha-tpuv5 ;;
    v6e) echo v2-alpha-tpuv6e ;;
    *) echo "error: --accelerator=$1: unknown TPU family; pass --version" >&2; exit 2 ;;
  esac
}

# Every command goes through here: printed shell-quoted, and run unless --dry-run.
run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  if [[ $DRY_RUN == 0 ]]; then "$@"; fi
}

ssh_workers() {  # WORKER REMOTE_COMMAND
  run gcloud compute tpus tpu-vm ssh "$NAME" --zone="$ZONE" --worker="$1" --command="$2"
}

slice_exists() {
  [[ $DRY_RUN == 0 ]] && gcloud compute tpus tpu-vm describe "$NAME" --zone="$ZONE" \
    --format='value(state)' >/dev/null 2>&1
}

slice_state() {
  gcloud compute tpus tpu-vm describe "$NAME" --zone="$ZONE" --format='value(state)' 2>/dev/null \
    || echo MISSING
}

create_slice() {
  if [[ -z $ACCELERATOR ]]; then
    echo "error: TPU $NAME does not exist in $ZONE; pass --accelerator TYPE to create it" >&2
    exit 2
  fi
  local version capacity=()
  version=${VERSION:-$(default_version "$ACCELERATOR")} || exit 2
  if [[ $SPOT == 1 ]]; then capacity=(--spot); fi
  if [[ $QUEUED == 1 ]]; then
    run gcloud compute tpus queued-resources create "$NAME" --node-id="$NAME" --zone="$ZONE" \
      --accelerator-type="$ACCELERATOR" --runtime-version="$version" ${capacity[@]+"${capacity[@]}"}
    local state=''
    while [[ $DRY_RUN == 0 && $state != ACTIVE ]]; do
      sleep 60
      state=$(gcloud compute tpus queued-resources describe "$NAME" --zone="$ZONE" \
                --format='value(state.state)')
      if [[ $state == FAILED || $state == SUSPENDED ]]; then
        echo "error: queued resource $NAME is $state" >&2
        exit 1
      fi
    done
  else
    run gcloud compute tpus tpu-vm create "$NAME" --zone="$ZONE" \
      --accelerator-type="$ACCELERATOR" --version="$version" ${capacity[@]+"${capacity[@]}"}
  fi
}

delete_slice() {
  if [[ $QUEUED == 1 ]]; then
    run gcloud compute tpus queued-resources delete "$NAME" --zone="$ZONE" --force --quiet
  else
    run gcloud compute tpus tpu-vm delete "$NAME" --zone="$ZONE" --quiet
  fi
}

# Stock TPU images ship Python 3.10; mlm_jax needs 3.11+: uv fetches one into the venv.
INSTALL="python3 -m pip install -q --user uv && \
{ [ -d ~/mlm_jax ] || git clone -q $(printf '%q' "$REPO") ~/mlm_jax; } && \
cd ~/mlm_jax && git fetch -q origin && git checkout -q --detach $(printf '%q' "$COMMIT") && \
{ [ -d ~/mlm_jax_venv ] || ~/.local/bin/uv venv -q --python 3.11 ~/mlm_jax_venv; } && \
~/.local/bin/uv pip install -q --python ~/mlm_jax_venv/bin/python -e '.[tpu]'"

# The training command, identical on every worker; overrides quoted for the remote shell.
# Starting is idempotent: a run still alive on a worker (an ssh that dropped) is left alone.
TRAIN="\$HOME/mlm_jax_venv/bin/python $(printf '%q ' -m mlm_jax.main --distributed=on \
  "--config=$CONFIG" "--workdir=$WORKDIR" ${OVERRIDES[@]+"${OVERRIDES[@]}"})"
START="mkdir -p ~/mlm_jax_run && cd ~/mlm_jax && \
if [ -f ~/mlm_jax_run/pid ] && kill -0 \"\$(cat ~/mlm_jax_run/pid)\" 2>/dev/null; then \
echo 'still running'; else setsid nohup $TRAIN> ~/mlm_jax_run/worker.log 2>&1 < /dev/null & \
echo \$! > ~/mlm_jax_run/pid; fi"
# shellcheck disable=SC2016  # expands on worker 0, not here
STREAM='tail -n +1 -F --pid="$(cat ~/mlm_jax_run/pid)" ~/mlm_jax_run/worker.log 2>/dev/null; grep -q "^done:" ~/mlm_jax_run/worker.log'  # only a finished run prints done:

if [[ $DRY_RUN == 1 ]]; then
  echo "# workers: ${WORKERS:-$(hosts_of "${ACCELERATOR:-v4-8}")}"
  if [[ -n $ACCELERATOR ]]; then create_slice; else echo "# reusing TPU $NAME"; fi
else
  if slice_exists; then echo "# reusing TPU $NAME"; else create_slice; fi
  echo "# workers: $(gcloud compute tpus tpu-vm describe "$NAME" --zone="$ZONE" \
    --format='value(networkEndpoints[].ipAddress)' | tr ';' '\n' | grep -c .)"
fi
echo "# commit: $COMMIT"
echo "# workdir: $WORKDIR"

for ((attempt = 0; attempt <= RELAUNCH; attempt++)); do
  ssh_workers all "$INSTALL"
  ssh_workers all "$START"
  if [[ $DRY_RUN == 1 ]]; then
    ssh_workers 0 "$STREAM"
    break
  fi
  if ssh_workers 0 "$STREAM"; then
    echo "# run finished: $WORKDIR"
    exit 0
  fi
  state=$(slice_state)
  echo "# run stopped before its last step (slice state: $state)"
  if ((attempt == RELAUNCH)); then break; fi
  if [[ $state != READY ]]; then  # preempted or gone: a fresh slice resumes from the workdir
    # A preempted queued resource outlives its node (SUSPENDED): it is deleted either way.
    if [[ $state != MISSING || $QUEUED == 1 ]]; then delete_slice; fi
    create_slice
  fi
done
if [[ $DRY_RUN == 0 ]]; then
  echo "error: the run did not finish; rerun this command to resume from $WORKDIR" >&2
  exit 1
fi
