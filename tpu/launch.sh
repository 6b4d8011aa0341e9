#!/usr/bin/env bash
# Launches the same training command on every worker (multi-host SPMD).
# Env: TPU_NAME TPU_ZONE TPU_PROJECT MODEL_DIR (gs://bucket/path) GIN_FILE (e.g. gin/gr_jax/trialign.gin)
#      [REMOTE_DIR=gr_jax] [LOG_FILE=train.log]
# Extra arguments are passed to gr_jax.train, e.g. --gin.TRAIN_STEPS=200000
set -euo pipefail
# shellcheck source=tpu/common.sh
source "$(dirname "$0")/common.sh"
usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; echo "Flags: --dry-run prints the commands only."; }
parse_common_flags "$@"
require_env TPU_NAME TPU_ZONE TPU_PROJECT MODEL_DIR GIN_FILE
if [[ "$MODEL_DIR" != gs://* ]]; then
  echo "error: MODEL_DIR must be a GCS path (gs://...) so every host writes to the same place; got '$MODEL_DIR'" >&2
  exit 2
fi
tpu_location_flags
remote_dir="${REMOTE_DIR:-gr_jax}"
log_file="${LOG_FILE:-train.log}"
extra=""
if ((${#EXTRA_ARGS[@]} > 0)); then
  printf -v extra ' %q' "${EXTRA_ARGS[@]}"
fi
ssh_all_workers "cd ~/$remote_dir && GR_JAX_DISTRIBUTED=1 nohup ~/venv/bin/python -m gr_jax.train \
--gin_file=$GIN_FILE --gin.MODEL_DIR=\\\"$MODEL_DIR\\\"$extra > ~/$log_file 2>&1 &"
