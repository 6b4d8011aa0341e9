"""Shared pytest fixtures and settings."""

import os

import pytest

# Keep JAX/TF quiet and on the CPU in tests.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO_ROOT), "shared", "data")


def pytest_collection_modifyitems(config, items):
  """Skips @slow tests unless `-m slow` (or GR_JAX_SLOW=1) asks for them."""
  if "slow" in (config.getoption("-m") or "") or os.environ.get("GR_JAX_SLOW") == "1":
    return
  skip = pytest.mark.skip(reason="slow: run with `pytest -m slow`")
  for item in items:
    if "slow" in item.keywords:
      item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data_dir():
  """Path of ../shared/data (real Amazon data); skips if absent."""
  if not os.path.isdir(SHARED_DATA):
    pytest.skip("../shared/data not present")
  return SHARED_DATA


@pytest.fixture(scope="module")
def copy_dataset(tmp_path_factory):
  """Tiny dataset where even users' test target repeats their last history item (one per module)."""
  from gr_jax_tasks import testing  # pylint: disable=g-import-not-at-top
  d = str(tmp_path_factory.mktemp("copy_ds"))
  testing.make_copy_dataset(d)
  return d
