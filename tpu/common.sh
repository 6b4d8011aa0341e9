#!/usr/bin/env bash
# Shared helpers for the Cloud TPU VM scripts: configuration from environment
# variables, a --dry-run mode that prints every command instead of running it.
# Sourced by create.sh, setup.sh, launch.sh, logs.sh and delete.sh.

DRY_RUN="${DRY_RUN:-0}"
EXTRA_ARGS=()

# Parses the flags every script accepts; other arguments are kept in EXTRA_ARGS.
parse_common_flags() {
  for arg in "$@"; do
    case "$arg" in
      --dry-run|-n) DRY_RUN=1 ;;
      --help|-h) usage; exit 0 ;;
      *) EXTRA_ARGS+=("$arg") ;;
    esac
  done
}

# Fails with a clear message naming every missing variable.
require_env() {
  local missing=()
  local name
  for name in "$@"; do
    if [[ -z "${!name:-}" ]]; then
      missing+=("$name")
    fi
  done
  if ((${#missing[@]} > 0)); then
    echo "error: missing environment variable(s): ${missing[*]}" >&2
    echo "       see tpu/README.md (e.g. export TPU_NAME=gr-jax-v4 TPU_ZONE=us-central2-b TPU_PROJECT=my-project)" >&2
    exit 2
  fi
}

# Prints the command (shell-quoted); runs it unless --dry-run.
run() {
  local shown="" arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      shown+=" $arg"
    else
      shown+=" '${arg//\'/\'\\\'\'}'"
    fi
  done
  echo "+${shown}"
  if [[ "$DRY_RUN" != "1" ]]; then
    "$@"
  fi
}

# gcloud flags that locate the TPU VM.
tpu_location_flags() {
  TPU_LOCATION=(--zone="$TPU_ZONE" --project="$TPU_PROJECT")
}

# Runs one shell command on every worker of the slice (multi-host: all hosts).
ssh_all_workers() {
  run gcloud compute tpus tpu-vm ssh "$TPU_NAME" "${TPU_LOCATION[@]}" --worker=all --command="$1"
}
