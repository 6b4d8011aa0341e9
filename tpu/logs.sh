#!/usr/bin/env bash
# Follows the training log of one worker (default 0, the one that writes summaries).
# Env: TPU_NAME TPU_ZONE TPU_PROJECT [WORKER=0] [LOG_FILE=train.log]
set -euo pipefail
# shellcheck source=tpu/common.sh
source "$(dirname "$0")/common.sh"
usage() { sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'; echo "Flags: --dry-run prints the commands only."; }
parse_common_flags "$@"
require_env TPU_NAME TPU_ZONE TPU_PROJECT
tpu_location_flags
run gcloud compute tpus tpu-vm ssh "$TPU_NAME" "${TPU_LOCATION[@]}" --worker="${WORKER:-0}" \
  --command="tail -n 200 -f ~/${LOG_FILE:-train.log}"
