"""Tests of gr_jax.gin_flags (T5X-style gin flags)."""

import argparse
import logging

import gin
import pytest

from gr_jax import gin_flags
from gr_jax import paths


def test_rewrite_gin_args_keeps_other_flags():
  assert gin_flags.rewrite_gin_args(["--gin.A=1", "--gin_file", "x.gin", "--gin.B='s=t'"]) == [
      "--gin", "A=1", "--gin_file", "x.gin", "--gin", "B='s=t'"]


def test_parser_accepts_t5x_style_flags():
  parser = argparse.ArgumentParser()
  gin_flags.add_gin_arguments(parser, "gin/gr_jax/tiger.gin", "--gin.TRAIN_STEPS=5")
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


@pytest.mark.parametrize("name", ["trialign", "macrec", "tiger"])
def test_t5x_run_configs_point_to_gr_jax_configs(name, monkeypatch):
  monkeypatch.chdir(paths.REPO_ROOT)
  for given in (f"gin/{name}.gin", f"gin/t5x/{name}.gin"):  # The card's path and its old alias.
    with pytest.raises(gin_flags.T5XConfigError) as err:
      gin_flags.check_not_t5x([given])
    msg = str(err.value)
    assert f"python -m t5x.train --gin_file={given}`" in msg
    assert f"--gin_file=gin/gr_jax/{name}.gin" in msg
  gin_flags.check_not_t5x([f"gin/gr_jax/{name}.gin", f"demo/{name}.gin"])  # gr_jax's own: fine.


def test_t5x_check_follows_includes_and_ignores_comments(tmp_path):
  (tmp_path / "run.gin").write_text("include 'base.gin'\nX = 1\n")
  (tmp_path / "base.gin").write_text("# import __main__ as train_script (comment)\nY = 2\n")
  gin_flags.check_not_t5x(["run.gin"], search_paths=[str(tmp_path)])
  (tmp_path / "base.gin").write_text("from __gin__ import dynamic_registration\n"
                                     "import __main__ as train_script\n")
  with pytest.raises(gin_flags.T5XConfigError, match="run.gin is a T5X run config"):
    gin_flags.check_not_t5x(["run.gin"], search_paths=[str(tmp_path)])


def test_train_main_explains_a_t5x_config(monkeypatch, capsys):
  from gr_jax import train  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(paths.REPO_ROOT)
  parser = argparse.ArgumentParser()
  train.add_arguments(parser)
  assert train.main(parser.parse_args(["--gin_file=gin/trialign.gin"])) == 2
  assert "gin/gr_jax/trialign.gin" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["trialign", "macrec", "tiger", "mixture"])
def test_gr_jax_configs_parse(name):
  from gr_jax import train  # pylint: disable=g-import-not-at-top
  gin.clear_config()
  try:
    train.parse_gin([f"gin/gr_jax/{name}.gin"], [
        "MODEL_DIR='/m'", "TRAIN_STEPS=3", "DATA_DIR='/d'", "DATASET_NAME='x'",
        "MIXTURE_OR_TASK_NAME='x'", "TASK_FEATURE_LENGTHS={'inputs': 8}"])
    if name != "mixture":
      assert gin.query_parameter("gr_jax.train.train.method") == name
    assert gin.query_parameter("%TRAIN_STEPS") == 3
    assert gin.query_parameter("%BATCH_SIZE") == 256  # From gr_jax/train_defaults.gin.
  finally:
    gin.clear_config()


@pytest.mark.parametrize("gin_file,want", [("gin/gr_jax/tiger.gin", 64), ("gin/gr_jax/mixture.gin", 0),
                                           ("gin/paper/macrec/tiger.gin", 0),
                                           ("gin/paper/macrec/mql4grec.gin", 0)])
def test_encoder_end_positions_reach_the_model_config(gin_file, want):
  """gr_jax's TIGER turns the encoder recency embedding on; the paper configs keep T5's."""
  from gr_jax import train  # pylint: disable=g-import-not-at-top
  from gr_jax.model import t5  # pylint: disable=g-import-not-at-top
  gin.clear_config()
  try:
    train.parse_gin([gin_file], [
        "MODEL_DIR='/m'", "TRAIN_STEPS=3", "DATA_DIR='/d'", "DATASET_NAME='x'", "EPOCHS=1",
        "MIXTURE_OR_TASK_NAME='x'", "TASK_FEATURE_LENGTHS={'inputs': 8}"])
    assert t5.T5Config().encoder_end_positions == want
  finally:
    gin.clear_config()
