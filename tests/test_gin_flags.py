"""Tests of gr_jax.gin_flags (T5X-style gin flags)."""

import argparse
import logging

import gin
import pytest

from gr_jax import gin_flags


def test_rewrite_gin_args_keeps_other_flags():
  assert gin_flags.rewrite_gin_args(["--gin.A=1", "--gin_file", "x.gin", "--gin.B='s=t'"]) == [
      "--gin", "A=1", "--gin_file", "x.gin", "--gin", "B='s=t'"]


def test_parser_accepts_t5x_style_flags():
  parser = argparse.ArgumentParser()
  gin_flags.add_gin_arguments(parser, "gin/tiger.gin", "--gin.TRAIN_STEPS=5")
  args = parser.parse_args(["--gin_file", "a.gin", "--gin_file", "b.gin", "--gin.X=5",
                            "--gin", "Y='z'", "--gin_search_paths", "/s"])
  assert args.gin_file == ["a.gin", "b.gin"]
  assert args.gin_bindings == ["X=5", "Y='z'"]
  assert args.gin_search_paths == ["/s"]


def test_parse_gin_resolves_includes_from_search_path_without_miss_noise(tmp_path, caplog):
  (tmp_path / "sub").mkdir()
  (tmp_path / "sub" / "inner.gin").write_text("VALUE = 7\n")
  (tmp_path / "outer.gin").write_text("include 'sub/inner.gin'\nOTHER = %VALUE\n")
  gin.clear_config()
  with caplog.at_level(logging.INFO):
    gin_flags.parse_gin(["outer.gin"], ["THIRD = 3"], search_paths=[str(tmp_path)])
  try:
    assert gin.query_parameter("%VALUE") == 7
    assert gin.query_parameter("%THIRD") == 3
    assert not [r for r in caplog.records if "Path not found" in r.getMessage()]
  finally:
    gin.clear_config()


def test_parse_gin_missing_file_names_it(tmp_path):
  gin.clear_config()
  with pytest.raises(IOError, match="nowhere.gin"):
    gin_flags.parse_gin(["nowhere.gin"], [], search_paths=[str(tmp_path)])
  gin.clear_config()
