"""Tests of gr_jax.data.amazon on tiny raw dumps written here (2014 Python-literal meta, 2018 JSON)."""

import collections
import gzip
import json

import pytest

from gr_jax import io_utils
from gr_jax.data import amazon
from gr_jax.data import preprocess


def _gz(path, lines):
  with gzip.open(path, "wt", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")


def write_2014(raw, users=6, items=6, category="Beauty"):
  """A 2014-style corpus: every user reviews 5 consecutive items (cyclically)."""
  reviews, meta = [], []
  for u in range(users):
    for k in range(5):
      i = (u + k) % items
      reviews.append(json.dumps({"reviewerID": f"U{u}", "asin": f"B{i:03d}",
                                 "unixReviewTime": 1000 + 10 * k, "overall": 5.0}))
  for i in range(items):
    # repr() of a dict: single-quoted Python literal, exactly like the 2014 meta dumps.
    meta.append(repr({"asin": f"B{i:03d}", "title": f"Lipstick &amp; Gloss {i}",
                      "description": "<b>Bold</b>  colour", "brand": "Acme",
                      "categories": [["Beauty", "Makeup"], ["Beauty", "Lips"]],
                      "imUrl": f"http://img/{i}.jpg", "salesRank": {"Beauty": 10 + i}}))
  _gz(raw / f"reviews_{category}_5.json.gz", reviews)
  _gz(raw / f"meta_{category}.json.gz", meta)


def test_2014_dump_python_literal_meta_is_parsed_and_cleaned(tmp_path):
  write_2014(tmp_path)
  seqs, items = amazon.load_category(str(tmp_path), "Beauty", "2014", progress=False)
  assert len(seqs) == 6 and seqs["U0"] == ["B000", "B001", "B002", "B003", "B004"]
  it = items["B003"]
  assert it.title == "Lipstick & Gloss 3" and it.description == "Bold colour"
  assert it.categories == ["Beauty", "Makeup", "Lips"] and it.image == "http://img/3.jpg"


def test_python_literal_meta_line_with_quotes_and_no_json_equivalent():
  line = "{'asin': 'X1', 'title': \"Men's \\\"Pro\\\" Razor\", 'price': 9.5, 'related': {'also_bought': ['A']}}"
  with pytest.raises(ValueError):
    json.loads(line)
  rec = amazon.parse_meta_line(line, "meta.json.gz", 3, "2014")
  item = amazon.meta_to_item(rec)
  assert item.item_id == "X1" and item.title == 'Men\'s "Pro" Razor'
  assert item.categories == [] and item.image is None and item.description == ""


def test_2018_dump_json_meta_with_lists_duplicates_and_order(tmp_path):
  _gz(tmp_path / "Arts_5.json.gz",
      [json.dumps({"reviewerID": "U1", "asin": "A2", "unixReviewTime": 5}),
       json.dumps({"reviewerID": "U1", "asin": "A1", "unixReviewTime": 3}),
       json.dumps({"reviewerID": "U1", "asin": "A2", "unixReviewTime": 5}),  # Exact duplicate.
       json.dumps({"reviewerID": "U1", "asin": "A1", "unixReviewTime": 9}),  # Repeat purchase.
       json.dumps({"reviewerID": "U1", "asin": "A3", "unixReviewTime": 5})])  # Tie: file order.
  _gz(tmp_path / "meta_Arts.json.gz",
      [json.dumps({"asin": "A1", "title": "Brush", "description": ["Soft", "bristles"],
                   "category": ["Arts", "Brushes"], "imageURLHighRes": ["http://h/1.jpg"]}),
       json.dumps({"asin": "A1", "title": "Second copy of A1"}),
       json.dumps({"asin": "A9", "title": "Unused"})])
  counts = {}
  seqs, items = amazon.load_category(str(tmp_path), "Arts", "2018", progress=False, counts=counts)
  assert seqs == {"U1": ["A1", "A2", "A3", "A1"]}
  assert counts == {"duplicate_interactions_dropped": 1}
  assert set(items) == {"A1"} and items["A1"].title == "Brush"  # First metadata line wins.
  assert items["A1"].description == "Soft bristles" and items["A1"].image == "http://h/1.jpg"


def test_build_drops_untitled_items_before_kcore_or_keeps_a_placeholder(tmp_path):
  write_2014(tmp_path, users=8, items=6)
  # B005 loses its metadata: "drop" removes its 6 interactions before k-core (users keep 4).
  with gzip.open(tmp_path / "meta_Beauty.json.gz", "rt") as f:
    meta = [l for l in f.read().splitlines() if "B005" not in l]
  _gz(tmp_path / "meta_Beauty.json.gz", meta)
  seqs, items, stats = amazon.build(str(tmp_path), "Beauty", "2014", kcore=4, progress=False)
  counts = collections.Counter(i for s in seqs.values() for i in s)
  assert "B005" not in counts and min(counts.values()) >= 4
  assert all(len(s) >= 4 for s in seqs.values()) and len(seqs) == 8
  assert stats["items_without_title_or_metadata"] == 1
  assert stats["interactions_dropped_for_missing_title"] == 6
  seqs, items, stats = amazon.build(str(tmp_path), "Beauty", "2014", kcore=5, progress=False,
                                    untitled="placeholder")
  assert len(seqs) == 8 and items["B005"].title == "Item B005"
  assert stats["items_with_placeholder_title"] == 1


def test_malformed_lines_name_file_line_and_field(tmp_path):
  _gz(tmp_path / "reviews_Toys_5.json.gz",
      [json.dumps({"reviewerID": "U", "asin": "A", "unixReviewTime": 1}),
       json.dumps({"reviewerID": "U", "unixReviewTime": 2}),
       json.dumps({"reviewerID": "U", "asin": "B", "unixReviewTime": "yesterday"}),
       "{not json"])
  path = str(tmp_path / "reviews_Toys_5.json.gz")
  with pytest.raises(io_utils.BadInputError) as e:
    list(amazon.read_reviews(path, progress=False))
  assert e.value.line == 2 and e.value.field == "asin" and e.value.path == path
  assert "reviews_Toys_5.json.gz:2 field 'asin': missing field" in str(e.value)
  bad = preprocess.BadLines("skip")
  assert list(amazon.read_reviews(path, progress=False, bad=bad)) == [("U", "A", 1)]
  stats = bad.to_stats()
  assert stats["bad_lines_skipped"] == 3 and stats["bad_lines_per_file"] == {path: 3}
  assert "field 'unixReviewTime'" in stats["bad_line_examples"][1]
  with pytest.raises(io_utils.BadInputError, match="neither JSON nor a Python literal"):
    amazon.parse_meta_line("{'asin': 'x', ", "meta.json", 7, "2014")


def test_truncated_gzip_and_non_utf8_are_bad_input(tmp_path):
  good = [json.dumps({"reviewerID": f"U{k}", "asin": "A", "unixReviewTime": k}) for k in range(2000)]
  _gz(tmp_path / "full.json.gz", good)
  data = (tmp_path / "full.json.gz").read_bytes()
  (tmp_path / "cut.json.gz").write_bytes(data[:len(data) // 2])
  with pytest.raises(io_utils.BadInputError, match="truncated or corrupt") as e:
    list(amazon.read_reviews(str(tmp_path / "cut.json.gz"), progress=False))
  assert e.value.line > 1 and e.value.path.endswith("cut.json.gz")
  bad = preprocess.BadLines("skip")
  kept = list(amazon.read_reviews(str(tmp_path / "cut.json.gz"), progress=False, bad=bad))
  assert 0 < len(kept) < 2000 and bad.to_stats()["bad_lines_skipped"] >= 1
  raw = (json.dumps({"reviewerID": "U", "asin": "A", "unixReviewTime": 1}) + "\n").encode()
  (tmp_path / "latin.json").write_bytes(raw + b'{"reviewerID": "Caf\xe9"}\n' + raw)
  with pytest.raises(io_utils.BadInputError, match="not valid UTF-8") as e:
    list(amazon.read_reviews(str(tmp_path / "latin.json"), progress=False))
  assert e.value.line == 2
  bad = preprocess.BadLines("skip")  # A bad line does not cost the lines after it.
  assert len(list(amazon.read_reviews(str(tmp_path / "latin.json"), progress=False, bad=bad))) == 2


def test_missing_files_are_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="reviews_Beauty_5.json.gz"):
    amazon.load_category(str(tmp_path), "Beauty", "2014", progress=False)


def test_meta_lines_of_unused_items_are_not_parsed(tmp_path):
  _gz(tmp_path / "meta_X.json.gz",
      ["{'asin': 'UNUSED', 'title': 'broken", repr({"asin": "A1", "title": "Kept"})])
  path = str(tmp_path / "meta_X.json.gz")
  got = list(amazon.read_meta(path, wanted={"A1"}, progress=False))
  assert [(it.item_id, it.title) for it in got] == [("A1", "Kept")]
  with pytest.raises(io_utils.BadInputError) as e:  # Without a filter every line counts.
    list(amazon.read_meta(path, progress=False))
  assert e.value.line == 1
  assert amazon.quick_asin('{"asin": "B00X", "related": {"asin": "no"}}') == "B00X"
  # A line whose asin cannot be seen is parsed in full, so its damage is reported.
  _gz(tmp_path / "meta_Y.json.gz", [repr({"asin": "A1", "title": "Kept"}), "{'title': 'x'"])
  with pytest.raises(io_utils.BadInputError) as e:
    list(amazon.read_meta(str(tmp_path / "meta_Y.json.gz"), wanted={"A1"}, progress=False))
  assert e.value.line == 2
