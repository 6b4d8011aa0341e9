"""Tests of gr_jax.data.amazon on tiny raw dumps written here (2014 Python-literal meta, 2018 JSON)."""

import gzip
import json

import pytest

from gr_jax import io_utils
from gr_jax.data import amazon


def _gz(path, lines):
  with gzip.open(path, "wt", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")


def write_2014(raw, users=6, items=6):
  reviews, meta = [], []
  for u in range(users):
    for k in range(5):
      i = (u + k) % items
      reviews.append(json.dumps({"reviewerID": f"U{u}", "asin": f"B{i:03d}",
                                 "unixReviewTime": 1000 + 10 * k, "overall": 5.0}))
  for i in range(items):
    meta.append(repr({"asin": f"B{i:03d}", "title": f"Lipstick &amp; Gloss {i}",
                      "description": "<b>Bold</b>  colour", "brand": "Acme",
                      "categories": [["Beauty", "Makeup"], ["Beauty", "Lips"]],
                      "imUrl": f"http://img/{i}.jpg"}))
  _gz(raw / "reviews_Beauty_5.json.gz", reviews)
  _gz(raw / "meta_Beauty.json.gz", meta)


def test_2014_dump_python_literal_meta_is_parsed_and_cleaned(tmp_path):
  write_2014(tmp_path)
  seqs, items = amazon.load_category(str(tmp_path), "Beauty", "2014", progress=False)
  assert len(seqs) == 6 and seqs["U0"] == ["B000", "B001", "B002", "B003", "B004"]
  it = items["B003"]
  assert it.title == "Lipstick & Gloss 3" and it.description == "Bold colour"
  assert it.categories == ["Beauty", "Makeup", "Lips"] and it.image == "http://img/3.jpg"


def test_2018_dump_json_meta_with_lists(tmp_path):
  _gz(tmp_path / "Arts_5.json.gz",
      [json.dumps({"reviewerID": "U1", "asin": "A2", "unixReviewTime": 5}),
       json.dumps({"reviewerID": "U1", "asin": "A1", "unixReviewTime": 3})])
  _gz(tmp_path / "meta_Arts.json.gz",
      [json.dumps({"asin": "A1", "title": "Brush", "description": ["Soft", "bristles"],
                   "category": ["Arts", "Brushes"], "imageURLHighRes": ["http://h/1.jpg"]}),
       json.dumps({"asin": "A9", "title": "Unused"})])
  seqs, items = amazon.load_category(str(tmp_path), "Arts", "2018", progress=False)
  assert seqs == {"U1": ["A1", "A2"]}
  assert set(items) == {"A1"} and items["A1"].description == "Soft bristles"
  assert items["A1"].image == "http://h/1.jpg"


def test_malformed_lines_name_file_line_and_field(tmp_path):
  _gz(tmp_path / "reviews_Toys_5.json.gz",
      [json.dumps({"reviewerID": "U", "asin": "A", "unixReviewTime": 1}),
       json.dumps({"reviewerID": "U", "unixReviewTime": 2})])
  with pytest.raises(io_utils.BadInputError) as e:
    list(amazon.read_reviews(str(tmp_path / "reviews_Toys_5.json.gz"), progress=False))
  assert e.value.line == 2 and e.value.field == "asin"
  with pytest.raises(io_utils.BadInputError, match="neither JSON nor a Python literal"):
    amazon.parse_meta_line("{'asin': 'x', ", "meta.json", 7, "2014")
