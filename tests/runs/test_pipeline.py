"""Tests for the resumable stage runner."""

import json
import os
import sys

import pytest

from gr_jax.runs import pipeline


def _touch_stage(name, path, counter):
  code = (f"import pathlib; p = pathlib.Path({counter!r}); "
          f"p.write_text(p.read_text() + {name!r} if p.exists() else {name!r}); "
          f"pathlib.Path({path!r}).write_text('x')")
  return pipeline.Stage(name, [sys.executable, "-c", code], produces=path)


def test_runs_in_order_then_skips_done_stages(tmp_path):
  counter = str(tmp_path / "calls")
  stages = [_touch_stage(n, str(tmp_path / f"{n}.out"), counter) for n in "abc"]
  times = pipeline.Pipeline(str(tmp_path), log=lambda *_: None).run_all(stages)
  assert list(times) == ["a", "b", "c"] and all(t >= 0 for t in times.values())
  assert open(counter).read() == "abc"
  # A second run (new process state) does no work.
  pipeline.Pipeline(str(tmp_path), log=lambda *_: None).run_all(stages)
  assert open(counter).read() == "abc"
  state = json.load(open(tmp_path / "pipeline_state.json"))
  assert set(state["done"]) == {"a", "b", "c"}


def test_failed_stage_is_not_recorded_and_resume_continues_there(tmp_path):
  counter = str(tmp_path / "calls")
  flag = tmp_path / "fail"
  flag.write_text("1")
  failing = pipeline.Stage("b", [sys.executable, "-c",
                                 f"import os,sys; sys.exit(3 if os.path.exists({str(flag)!r}) else 0)"])
  stages = [_touch_stage("a", str(tmp_path / "a.out"), counter), failing,
            _touch_stage("c", str(tmp_path / "c.out"), counter)]
  with pytest.raises(pipeline.StageFailed, match="stage 'b' failed with exit code 3"):
    pipeline.Pipeline(str(tmp_path), log=lambda *_: None).run_all(stages)
  assert open(counter).read() == "a"
  os.remove(flag)
  pipeline.Pipeline(str(tmp_path), log=lambda *_: None).run_all(stages)
  assert open(counter).read() == "ac"  # 'a' was not redone.


def test_missing_product_is_an_error_and_deleted_product_reruns(tmp_path):
  stage = pipeline.Stage("x", [sys.executable, "-c", "pass"], produces=str(tmp_path / "never"))
  with pytest.raises(pipeline.StageFailed, match="did not write"):
    pipeline.Pipeline(str(tmp_path), log=lambda *_: None).run(stage, 1, 1)
  counter = str(tmp_path / "calls")
  good = _touch_stage("y", str(tmp_path / "y.out"), counter)
  p = pipeline.Pipeline(str(tmp_path), log=lambda *_: None)
  p.run(good, 1, 1)
  os.remove(tmp_path / "y.out")
  p.run(good, 1, 1)
  assert open(counter).read() == "yy"


def test_changed_command_reruns_the_stage(tmp_path):
  counter = str(tmp_path / "calls")
  out = str(tmp_path / "a.out")
  p = pipeline.Pipeline(str(tmp_path), log=lambda *_: None)
  p.run(_touch_stage("a", out, counter), 1, 1)
  p.run(_touch_stage("a", out, counter), 1, 1)  # Same command: skipped.
  assert open(counter).read() == "a"
  changed = _touch_stage("a", out, counter)
  changed.argv = list(changed.argv) + ["--extra"]
  p.run(changed, 1, 1)
  assert open(counter).read() == "aa"
