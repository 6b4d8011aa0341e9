"""Tests for gr_jax.io_utils: atomic writes and the strict / lenient JSON readers."""

import os

import pytest

from gr_jax import io_utils


def test_atomic_write_json_round_trips_and_leaves_no_temp_file(tmp_path):
  path = tmp_path / "sub" / "doc.json"
  io_utils.atomic_write_json(path, {"a": [1, 2], "b": "é"})
  assert io_utils.read_json(path) == {"a": [1, 2], "b": "é"}
  assert os.listdir(tmp_path / "sub") == ["doc.json"]


def test_read_json_names_the_file_of_malformed_json(tmp_path):
  path = tmp_path / "run_info.json"
  path.write_text('{"model_config": ', encoding="utf-8")
  with pytest.raises(io_utils.BadInputError, match=r"run_info\.json(:\d+)?: not valid JSON") as err:
    io_utils.read_json(path)
  assert err.value.path == str(path)
  with pytest.raises(FileNotFoundError):
    io_utils.read_json(tmp_path / "absent.json")


def test_read_json_or_empty_is_lenient(tmp_path):
  assert io_utils.read_json_or_empty(tmp_path / "absent.json") == {}
  (tmp_path / "bad.json").write_text("{", encoding="utf-8")
  assert io_utils.read_json_or_empty(tmp_path / "bad.json") == {}
  (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
  assert io_utils.read_json_or_empty(tmp_path / "list.json") == {}
  (tmp_path / "ok.json").write_text('{"done": true}', encoding="utf-8")
  assert io_utils.read_json_or_empty(tmp_path / "ok.json") == {"done": True}


def test_atomic_writes_get_the_mode_open_would_give_not_0600(tmp_path):
  # mkstemp creates 0600 files; a dataset written by gr_jax must be readable like any other.
  old = os.umask(0o022)
  try:
    io_utils.atomic_write_text(tmp_path / "a.txt", "x")
    os.umask(0o077)
    io_utils.atomic_write_text(tmp_path / "b.txt", "x")
  finally:
    os.umask(old)
  assert os.stat(tmp_path / "a.txt").st_mode & 0o777 == 0o644
  assert os.stat(tmp_path / "b.txt").st_mode & 0o777 == 0o600  # The umask is respected.
