"""Tests for gr_jax.enrich.stage: end-to-end runs, cache reuse, kill/resume, ablation flags."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gr_jax import enrich
from gr_jax import io_utils
from gr_jax.enrich import stage

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _parse(argv):
  parser = argparse.ArgumentParser()
  stage.add_arguments(parser)
  return parser.parse_args(argv)


def _records(data_dir, name):
  return [r for _, r in io_utils.read_jsonl(os.path.join(data_dir, "enrich", name))]


def test_cli_main_writes_sorted_records_and_rerun_is_all_cached(dataset, capsys):
  assert stage.main(_parse(["--data", dataset, "--no_progress"])) == 0
  out = capsys.readouterr().out
  assert "captions [heuristic/pixel-statistics]: 10 ok, 0 failed" in out
  assert "images: missing_file 1, no_image 1, ok 8" in out
  caps, ints = _records(dataset, "captions.jsonl"), _records(dataset, "interests.jsonl")
  ids = [r["item_id"] for r in caps]
  assert ids == sorted(ids) and len(ids) == 10 == len(ints)
  for r in caps:
    assert r["backend"] == "heuristic" and r["status"] == "ok"
    assert set(r) >= {"item_id", "caption", "status", "backend", "model", "prompt_version", "key"}
  assert all(2 <= len(r["interests"]) <= 4 for r in ints)
  assert enrich.load_captions(dataset) == {r["item_id"]: r["caption"] for r in caps}
  # Interests were mined from the captions: the caption's pattern shows up as a style tag.
  striped = [r for r in caps if "striped" in r["caption"]]
  assert striped and all("classic striped look" in enrich.load_interests(dataset)[r["item_id"]]
                         for r in striped)
  before = open(os.path.join(dataset, "enrich", "captions.jsonl")).read()
  report = stage.run_enrich(dataset, stage.EnrichConfig(progress=False))
  assert report["captions"]["cached"] == 10 and report["captions"]["done"] == 0
  assert report["interests"]["cached"] == 10
  assert open(os.path.join(dataset, "enrich", "captions.jsonl")).read() == before
  saved = json.load(open(os.path.join(dataset, "enrich", "report.json")))
  assert saved["images"] == {"ok": 8, "no_image": 1, "missing_file": 1}


def test_changed_content_reruns_only_that_item(dataset):
  stage.run_enrich(dataset, stage.EnrichConfig(progress=False))
  items = [json.loads(l) for l in open(os.path.join(dataset, "items.jsonl"))]
  items[2]["title"] = "Vintage " + items[2]["title"]
  with open(os.path.join(dataset, "items.jsonl"), "w") as f:
    f.writelines(json.dumps(i) + "\n" for i in items)
  report = stage.run_enrich(dataset, stage.EnrichConfig(progress=False))
  assert report["captions"]["done"] == 1 and report["captions"]["cached"] == 9
  assert report["captions"]["compaction"] == {"kept": 10, "archived": 1}
  assert "vintage" in enrich.load_captions(dataset)["i002"]


def test_ablation_flags(dataset):
  stage.run_enrich(dataset, stage.EnrichConfig(progress=False))
  clean = enrich.load_captions(dataset)
  report = stage.run_enrich(dataset, stage.EnrichConfig(captions=False, progress=False))
  assert report["captions"] is None and enrich.load_captions(dataset) == {}
  # MDIM without captions: new inputs, new keys; the captioned answers move to the archive.
  assert report["interests"]["done"] == 10
  assert os.path.exists(os.path.join(dataset, "enrich", "interests.archive.jsonl"))
  stage.run_enrich(dataset, stage.EnrichConfig(interests=False, progress=False))
  assert enrich.load_interests(dataset) == {} and enrich.load_captions(dataset) == clean
  report = stage.run_enrich(dataset, stage.EnrichConfig(caption_noise=0.5, noise_seed=1,
                                                         progress=False))
  noisy = enrich.load_captions(dataset)
  assert sum(noisy[k] != clean[k] for k in clean) >= 4  # 5 swapped (duplicates may coincide)
  assert enrich.load_captions(dataset, noise=0.0) == clean  # captions.jsonl stays clean.
  assert report["captions"]["cached"] == 10
  assert json.load(open(os.path.join(dataset, "enrich", "view.json")))["caption_noise"] == 0.5
  # Back to the default view: the clean-caption interests come back from the archive.
  report = stage.run_enrich(dataset, stage.EnrichConfig(progress=False))
  assert report["interests"]["cached"] == 10 and enrich.load_captions(dataset) == clean


def test_skip_policy_records_permanent_failures(dataset):
  report = stage.run_enrich(dataset, stage.EnrichConfig(no_image="skip", interests=False,
                                                         progress=False))
  failed = {r["item_id"]: r for r in _records(dataset, "captions.jsonl") if r["status"] != "ok"}
  assert set(failed) == {"z_missing", "z_noimg"} and all(r["permanent"] for r in failed.values())
  assert report["captions"]["failed_items"] == 2
  report = stage.run_enrich(dataset, stage.EnrichConfig(no_image="skip", interests=False,
                                                         progress=False))
  assert report["captions"]["cached"] == 10  # Permanent failures are not retried.


def test_object_words_file(dataset, tmp_path):
  path = tmp_path / "words.json"
  path.write_text(json.dumps({"i000": ["coffee mug", "cup"]}))
  stage.run_enrich(dataset, stage.EnrichConfig(object_words=str(path), interests=False,
                                               progress=False))
  assert "Looks like: coffee mug, cup." in enrich.load_captions(dataset)["i000"]
  path.write_text(json.dumps({"i000": "mug"}))
  with pytest.raises(io_utils.BadInputError, match="words.json"):
    stage.run_enrich(dataset, stage.EnrichConfig(object_words=str(path), progress=False))


def test_bad_items_file_names_file_line_and_field(tmp_path):
  d = tmp_path / "bad"
  d.mkdir()
  (d / "items.jsonl").write_text('{"item_id": "a", "title": "x"}\n{"item_id": "b"}\n')
  with pytest.raises(io_utils.BadInputError, match=r"items\.jsonl:2 field 'title'"):
    stage.run_enrich(str(d), stage.EnrichConfig(progress=False))


def _run_stage(data_dir, *flags):
  return subprocess.Popen([sys.executable, "-m", "gr_jax.enrich.stage", "--data", data_dir,
                           "--no_progress", *flags], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)


def _lines(path):
  if not os.path.exists(path):
    return 0
  with open(path, "rb") as f:
    return f.read().count(b"\n")


@pytest.mark.parametrize("kill_in", ["captions", "interests"])
def test_sigkill_mid_run_then_resume_equals_uninterrupted_run(tmp_path, make_dataset, kill_in):
  a, b = str(tmp_path / "a"), str(tmp_path / "b")
  make_dataset(a, n=40)
  make_dataset(b, n=40)
  ref = _run_stage(b)
  assert ref.wait(60) == 0, ref.stderr.read().decode()
  target = os.path.join(a, "enrich", f"{kill_in}.jsonl")
  proc = _run_stage(a, "--max_rps", "60")
  deadline = time.monotonic() + 60
  while _lines(target) < 12 and time.monotonic() < deadline and proc.poll() is None:
    time.sleep(0.01)
  proc.send_signal(signal.SIGKILL)
  proc.wait(10)
  assert proc.returncode == -signal.SIGKILL
  written = _lines(target)
  assert 12 <= written < 42  # Killed mid-stage, with some records on disk.
  with open(target, "a", encoding="utf-8") as f:
    f.write('{"item_id": "i039", "capti')  # As if killed in the middle of a line.
  resumed = _run_stage(a)
  assert resumed.wait(60) == 0, resumed.stderr.read().decode()
  report = json.load(open(os.path.join(a, "enrich", "report.json")))
  assert report[kill_in]["cached"] >= 12  # Nothing already written was lost or redone.
  for name in ("captions.jsonl", "interests.jsonl", "view.json"):
    with open(os.path.join(a, "enrich", name), "rb") as fa, \
        open(os.path.join(b, "enrich", name), "rb") as fb:
      assert fa.read() == fb.read(), name


def test_efficientnet_object_words_run_only_for_uncached_items(dataset, make_dataset, monkeypatch):
  from gr_jax.enrich import captioner  # pylint: disable=g-import-not-at-top
  calls = []

  def fake(jobs, progress=False):
    calls.append(sorted(j.item_id for j in jobs))
    for j in jobs:
      if j.image.status == "ok":
        j.object_words = [f"object{j.item_id[-1]}", "thing"]

  monkeypatch.setattr(captioner, "efficientnet_object_words", fake)
  cfg = stage.EnrichConfig(object_words="efficientnet", interests=False, progress=False)
  stage.run_enrich(dataset, cfg)
  assert len(calls) == 1 and len(calls[0]) == 10
  caps = enrich.load_captions(dataset)
  assert "object3 on a white background" in caps["i003"] and "Looks like: object3, thing." in caps["i003"]
  assert stage.run_enrich(dataset, cfg)["captions"]["cached"] == 10 and len(calls) == 1
  make_dataset(dataset, n=9)  # One more item: only it is classified.
  stage.run_enrich(dataset, cfg)
  assert calls[-1] == ["i008"]


@pytest.mark.slow
def test_efficientnet_object_words_for_real(dataset):
  stage.run_enrich(dataset, stage.EnrichConfig(object_words="efficientnet", interests=False,
                                               progress=False))
  recs = _records(dataset, "captions.jsonl")
  assert all(r["status"] == "ok" for r in recs)
  assert sum("Looks like" in r["caption"] or " on a " in r["caption"] for r in recs) >= 8
