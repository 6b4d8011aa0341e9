#!/usr/bin/env bash
# Creates a Cloud TPU VM or pod slice.
# Env: TPU_NAME TPU_ZONE TPU_PROJECT TPU_ACCELERATOR (e.g. v4-8, v5litepod-16)
#      [TPU_RUNTIME=tpu-ubuntu2204-base] [TPU_SPOT=0]
set -euo pipefail
# shellcheck source=tpu/common.sh
source "$(dirname "$0")/common.sh"
usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; echo "Flags: --dry-run prints the commands only."; }
parse_common_flags "$@"
require_env TPU_NAME TPU_ZONE TPU_PROJECT TPU_ACCELERATOR
tpu_location_flags
spot=()
if [[ "${TPU_SPOT:-0}" == "1" ]]; then spot=(--spot); fi
run gcloud compute tpus tpu-vm create "$TPU_NAME" "${TPU_LOCATION[@]}" \
  --accelerator-type="$TPU_ACCELERATOR" --version="${TPU_RUNTIME:-tpu-ubuntu2204-base}" "${spot[@]}"
