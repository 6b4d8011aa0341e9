"""Tests for gr_jax.enrich.cache: keys, append/resume, partial-line repair, compaction + archive."""

import json
import os

import pytest

from gr_jax import io_utils
from gr_jax.enrich import cache


def _rec(item, key, status="ok", caption="c"):
  return {"item_id": item, "caption": caption, "status": status, "key": key}


def test_record_key_depends_on_every_component():
  base = ("i1", "h", "http", "m", "v1")
  keys = {cache.record_key(*base)}
  for pos, alt in enumerate(("i2", "h2", "heuristic", "m2", "v2")):
    args = list(base)
    args[pos] = alt
    keys.add(cache.record_key(*args))
  assert len(keys) == 6
  assert cache.record_key(*base) == cache.record_key(*base)
  assert cache.content_hash({"a": 1, "b": [1, 2]}) == cache.content_hash({"b": [1, 2], "a": 1})
  assert cache.content_hash({"a": 1}) != cache.content_hash({"a": 2})


def test_append_reload_and_is_done(tmp_path):
  path, arch = str(tmp_path / "c.jsonl"), str(tmp_path / "c.archive.jsonl")
  c = cache.Cache(path, arch)
  c.append(_rec("a", "k1"))
  c.append(_rec("b", "k2", status="failed"))
  c.append(dict(_rec("z", "k3", status="failed"), permanent=True))
  c2 = cache.Cache(path, arch)
  assert c2.is_done("k1") and not c2.is_done("k2") and c2.is_done("k2", retry_failed=False)
  assert c2.is_done("k3") and not c2.is_done("missing")
  c2.append(_rec("b", "k2", status="ok", caption="fixed"))
  c2.append(_rec("a", "k1", status="failed"))  # Never replaces an ok answer.
  c3 = cache.Cache(path, arch)
  assert c3.get("k2")["caption"] == "fixed" and c3.get("k1")["status"] == "ok"


def test_partial_last_line_is_repaired_before_appending(tmp_path):
  path = str(tmp_path / "c.jsonl")
  io_utils.append_jsonl(path, _rec("a", "k1"))
  with open(path, "a", encoding="utf-8") as f:
    f.write('{"item_id": "b", "capt')  # A write killed mid-line.
  c = cache.Cache(path, str(tmp_path / "arch.jsonl"))
  c.append(_rec("b", "k2"))
  lines = open(path, encoding="utf-8").read().splitlines()
  assert [json.loads(line)["item_id"] for line in lines] == ["a", "b"]
  assert not cache.repair_tail(path)


def test_corrupt_middle_line_is_reported_with_file_and_line(tmp_path):
  path = tmp_path / "c.jsonl"
  path.write_text('{"item_id": "a", "key": "k"}\nnot json\n{"item_id": "b", "key": "j"}\n')
  with pytest.raises(io_utils.BadInputError, match=r"c\.jsonl:2"):
    cache.Cache(str(path), str(tmp_path / "arch.jsonl"))


def test_compact_sorts_dedupes_and_archives(tmp_path):
  path, arch = str(tmp_path / "c.jsonl"), str(tmp_path / "c.archive.jsonl")
  c = cache.Cache(path, arch)
  for rec in [_rec("b", "kb"), _rec("a", "ka_old", caption="old"), _rec("a", "ka"),
              _rec("b", "kb"), _rec("gone", "kg")]:
    c.append(rec)
  assert c.compact({"a": "ka", "b": "kb", "c": "kc"}) == {"kept": 2, "archived": 2}
  main = [r for _, r in io_utils.read_jsonl(path)]
  assert [(r["item_id"], r["key"]) for r in main] == [("a", "ka"), ("b", "kb")]
  archived = [r["key"] for _, r in io_utils.read_jsonl(arch)]
  assert archived == ["ka_old", "kg"]
  # Switching back to the old configuration finds its records in the archive.
  c2 = cache.Cache(path, arch)
  assert c2.is_done("ka_old")
  c2.compact({"a": "ka_old"})
  assert [r["caption"] for _, r in io_utils.read_jsonl(path)] == ["old"]
  assert sorted(r["key"] for _, r in io_utils.read_jsonl(arch)) == ["ka", "kb", "kg"]
  c3 = cache.Cache(path, arch)
  c3.compact({"a": "ka", "b": "kb", "gone": "kg", "x": "ka_old"})
  assert not os.path.exists(arch)
