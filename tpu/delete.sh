#!/usr/bin/env bash
# Deletes the TPU VM / pod slice (checkpoints in MODEL_DIR on GCS are kept).
# Env: TPU_NAME TPU_ZONE TPU_PROJECT
set -euo pipefail
# shellcheck source=tpu/common.sh
source "$(dirname "$0")/common.sh"
usage() { sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'; echo "Flags: --dry-run prints the commands only."; }
parse_common_flags "$@"
require_env TPU_NAME TPU_ZONE TPU_PROJECT
tpu_location_flags
run gcloud compute tpus tpu-vm delete "$TPU_NAME" "${TPU_LOCATION[@]}" --quiet
