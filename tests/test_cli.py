"""Tests for gr_jax.cli: one flag spelling (underscores, dashed aliases hidden); known failures as
one line + exit 2 (--debug keeps the traceback)."""

import json
import os
import re
import subprocess
import sys

import gin
import pytest

from gr_jax import cli
from gr_jax_tasks import testing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def _subparser(name):
  parser = cli.build_parser(only=name)
  sub = next(a for a in parser._actions if a.dest == "command")  # pylint: disable=protected-access
  return sub.choices[name]


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_help_uses_underscores_only(name):
  sub = _subparser(name)
  text = sub.format_help()
  flags = set(re.findall(r"(?<![\w-])--[a-z][\w.-]*", text))
  assert flags, text
  dashed = sorted(f for f in flags if "-" in f[2:] and not f.startswith("--gin."))
  assert not dashed, f"gr-jax {name} --help shows {dashed}"
  # Every underscore flag also accepts its dashed spelling, with the same destination.
  for action in sub._actions:  # pylint: disable=protected-access
    for option in action.option_strings:
      if option.startswith("--") and "_" in option:
        alias = sub._option_string_actions[option.replace("_", "-")]  # pylint: disable=protected-access
        assert alias.dest == action.dest and alias.help == "==SUPPRESS==", (name, option)


def test_dashed_alias_parses_like_the_flag():
  parser = cli.build_parser(only="embed")
  args = parser.parse_args(["embed", "--data", "d", "--image-size", "224", "--no-center",
                            "--text-npy", "t.npy"])
  canonical = parser.parse_args(["embed", "--data", "d", "--image_size", "224", "--no_center",
                                 "--text_npy", "t.npy"])
  assert vars(args) == vars(canonical)
  assert (args.image_size, args.center, args.text_npy) == (224, False, "t.npy")


def test_no_command_prints_help(capsys):
  assert cli.main([]) == 2
  assert "prepare -> enrich -> embed" in capsys.readouterr().out


def test_train_with_a_truncated_sids_json_is_one_line(tmp_path, capsys):
  # The probe: a truncated sids.json gave a raw traceback from `gr-jax train`.
  data = str(tmp_path / "d")
  testing.make_dataset(data, n_users=4)
  sids = os.path.join(data, "tokenizer", "tiger", "sids.json")
  with open(sids, "r+b") as f:
    f.truncate(os.path.getsize(sids) // 2)
  argv = ["train", "--gin_file=gin/gr_jax/tiger.gin", f"--gin.MODEL_DIR='{tmp_path / 'm'}'",
          f"--gin.DATA_DIR='{data}'", "--gin.DATASET_NAME='trunc'", "--gin.TRAIN_STEPS=2",
          "--gin.TASK_FEATURE_LENGTHS={'inputs': 64, 'targets': 8}"]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "sids.json" in err[0] and "not valid JSON" in err[0]
  assert "In call to configurable" not in err[0]


def test_python_m_train_refuses_an_unprepared_dir_in_one_line(tmp_path):
  data = tmp_path / "d"
  data.mkdir()
  (data / "items.jsonl").write_text(json.dumps({"item_id": "a", "title": "A"}) + "\n")
  proc = subprocess.run(
      [sys.executable, "-m", "gr_jax.train", "--gin_file=gin/gr_jax/tiger.gin",
       f"--gin.MODEL_DIR='{tmp_path / 'm'}'", f"--gin.DATA_DIR='{data}'",
       "--gin.DATASET_NAME='x'", "--gin.TRAIN_STEPS=2",
       "--gin.TASK_FEATURE_LENGTHS={'inputs': 64, 'targets': 8}"], cwd=ROOT, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  err = [l for l in proc.stderr.splitlines() if l.startswith("gr-jax train:")]
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert len(err) == 1 and "not a finished `gr-jax prepare` output" in err[0]
  assert "Traceback" not in proc.stderr


def test_recommend_rejects_k_0_and_an_empty_history_before_importing_tensorflow():
  code = ("import sys; from gr_jax import cli; "
          "a = cli.main(['recommend', '--model_dir', 'm', '--history', ' , ']); "
          "b = cli.main(['recommend', '--model_dir', 'm', '--history', 'i1', '-k', '0']); "
          "print(a, b, 'tensorflow' in sys.modules)")
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
  assert proc.stdout.split() == ["2", "2", "False"], proc.stderr[-2000:]
  assert "--history is empty" in proc.stderr and "-k/--top_k must be between 1" in proc.stderr
