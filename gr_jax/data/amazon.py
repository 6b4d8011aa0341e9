"""Streaming readers of the raw Amazon review dumps (2014 and 2018 releases).

2014 (McAuley et al., used by the Beauty/Sports/Toys papers):
  reviews_<Cat>_5.json.gz   JSON lines {"reviewerID", "asin", "unixReviewTime", ...}
  meta_<Cat>.json.gz        one Python-literal dict per line (single quotes: NOT JSON)
                            {"asin", "title", "description", "brand", "categories": [[...]], "imUrl"}
2018 (Ni et al., Instruments/Arts/Games/Industrial/Office):
  <Cat>_5.json.gz           JSON lines {"reviewerID", "asin", "unixReviewTime", ...}
  meta_<Cat>.json.gz        JSON lines {"asin", "title", "description": [..], "brand",
                            "category": [..], "imageURLHighRes": [..], "imageURL": [..]}
Everything is read line by line (gzip or plain), so multi-GB dumps never sit in memory.
"""

from __future__ import annotations

import ast
import json
import os
import re
from typing import Callable, Container, Iterator, Optional

import tqdm

from gr_jax import io_utils
from gr_jax.data import preprocess
from gr_jax.data import schema


def _find(raw_dir: str, candidates: list[str]) -> str:
  for name in candidates:
    path = os.path.join(raw_dir, name)
    if os.path.exists(path):
      return path
  raise FileNotFoundError(f"none of {candidates} in {raw_dir}")


def review_path(raw_dir: str, category: str, release: str) -> str:
  """Path of the 5-core review file of a category."""
  if release == "2014":
    return _find(raw_dir, [f"reviews_{category}_5.json.gz", f"reviews_{category}_5.json"])
  return _find(raw_dir, [f"{category}_5.json.gz", f"{category}_5.json"])


def meta_path(raw_dir: str, category: str) -> str:
  """Path of the metadata file of a category (both releases name it meta_<Cat>)."""
  return _find(raw_dir, [f"meta_{category}.json.gz", f"meta_{category}.json"])


def _field(rec: dict, name: str, path: str, line: int):
  if name not in rec:
    raise io_utils.BadInputError(path, line, name, "missing field")
  return rec[name]


def _review(text: str, path: str, line: int) -> tuple[str, str, float]:
  try:
    rec = json.loads(text)
  except ValueError as e:
    raise io_utils.BadInputError(path, line, None, f"not JSON ({e})") from e
  if not isinstance(rec, dict):
    raise io_utils.BadInputError(path, line, None, "expected a JSON object")
  ts = _field(rec, "unixReviewTime", path, line)
  if isinstance(ts, bool) or not isinstance(ts, (int, float)):
    raise io_utils.BadInputError(path, line, "unixReviewTime", "expected a number")
  user, asin = _field(rec, "reviewerID", path, line), _field(rec, "asin", path, line)
  for name, value in (("reviewerID", user), ("asin", asin)):
    if not isinstance(value, str) or not value.strip():
      raise io_utils.BadInputError(path, line, name, "expected a non-empty string")
  return user, asin, ts


def read_reviews(path: str, progress: bool = True, bad: Optional[preprocess.BadLines] = None
                 ) -> Iterator[tuple[str, str, float]]:
  """(reviewerID, asin, unixReviewTime) of a review dump (JSON lines; both releases)."""
  bad = bad or preprocess.BadLines()
  lines = preprocess.iter_lines(path, bad, progress=False)  # Own bar below.
  for line, text in tqdm.tqdm(lines, desc=f"reviews {os.path.basename(path)}", unit=" lines",
                              disable=not progress, mininterval=1.0):
    if not text.strip():
      continue
    try:
      yield _review(text, path, line)
    except io_utils.BadInputError as e:
      bad.handle(e)


_ASIN = re.compile(r"""["']asin["']\s*:\s*["']([^"'\\]+)["']""")


def parse_meta_line(text: str, path: str, line: int, release: str) -> dict:
  """One metadata line -> dict (Python literal for 2014, JSON for 2018, either accepted)."""
  parsers = (ast.literal_eval, json.loads) if release == "2014" else (json.loads, ast.literal_eval)
  errors = []
  for parse in parsers:
    try:
      rec = parse(text)
      break
    except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
      errors.append(e)
  else:
    raise io_utils.BadInputError(path, line, None,
                                 f"neither JSON nor a Python literal ({errors[-1]})")
  if not isinstance(rec, dict):
    raise io_utils.BadInputError(path, line, None, "expected a dict")
  if "asin" not in rec:
    raise io_utils.BadInputError(path, line, "asin", "missing field")
  return rec


def quick_asin(text: str) -> Optional[str]:
  """The asin of a metadata line without parsing it (None when not found)."""
  m = _ASIN.search(text)
  return m.group(1) if m else None


def _categories(rec: dict) -> list[str]:
  cats = rec.get("categories") or rec.get("category") or []
  flat: list[str] = []
  for c in cats:
    for name in (c if isinstance(c, list) else [c]):
      name = preprocess.clean_text(name)
      if name and name not in flat:
        flat.append(name)
  return flat


def _image(rec: dict) -> Optional[str]:
  for key in ("imageURLHighRes", "imageURL", "imUrl"):
    value = rec.get(key)
    if isinstance(value, list):
      value = value[0] if value else None
    if isinstance(value, str) and value.strip():
      return value.strip()
  return None


def meta_to_item(rec: dict) -> schema.Item:
  """A metadata record (either release) -> canonical Item with cleaned text."""
  return schema.Item(item_id=str(rec["asin"]), title=preprocess.clean_text(rec.get("title")),
                     description=preprocess.clean_text(rec.get("description")),
                     brand=preprocess.clean_text(rec.get("brand")),
                     categories=_categories(rec), image=_image(rec))


def read_meta(path: str, wanted: Optional[Container[str]] = None, release: str = "2014",
              progress: bool = True, bad: Optional[preprocess.BadLines] = None
              ) -> Iterator[schema.Item]:
  """Items of a metadata dump, keeping only asins in `wanted` (all when None)."""
  bad = bad or preprocess.BadLines()
  lines = preprocess.iter_lines(path, bad, progress=False)  # Own bar below.
  for line, text in tqdm.tqdm(lines, desc=f"meta {os.path.basename(path)}", unit=" lines",
                              disable=not progress, mininterval=1.0):
    if not text.strip():
      continue
    if wanted is not None:
      # Dumps list every item of the category; parse only the lines we need. A line
      # whose first "asin" key is not wanted is skipped without a full parse.
      asin = quick_asin(text)
      if asin is not None and asin not in wanted:
        continue
    try:
      rec = parse_meta_line(text, path, line, release)
      if wanted is not None and str(rec["asin"]) not in wanted:
        continue
      yield meta_to_item(rec)
    except io_utils.BadInputError as e:
      bad.handle(e)


def load_category(raw_dir: str, category: str, release: str, progress: bool = True,
                  log: Callable[[str], None] = lambda _: None,
                  bad: Optional[preprocess.BadLines] = None, counts: Optional[dict] = None
                  ) -> tuple[dict[str, list[str]], dict[str, schema.Item]]:
  """Chronological sequences and items of one category (before k-core).

  Exact duplicate reviews are dropped (counted in `counts`); when an asin has several
  metadata lines (2018 dumps), the first one wins.
  """
  if release not in ("2014", "2018"):
    raise ValueError(f"release must be '2014' or '2018', got {release!r}")
  reviews = review_path(raw_dir, category, release)
  sequences = preprocess.chronological(read_reviews(reviews, progress, bad), dedupe=True,
                                       counts=counts)
  wanted = {i for s in sequences.values() for i in s}
  log(f"{reviews}: {len(sequences)} users, {len(wanted)} items")
  items: dict[str, schema.Item] = {}
  for it in read_meta(meta_path(raw_dir, category), wanted, release, progress, bad):
    items.setdefault(it.item_id, it)
  return sequences, items


UNTITLED = ("drop", "placeholder")


def build(raw_dir: str, category: str, release: str, kcore: int = preprocess.DEFAULT_KCORE,
          progress: bool = True, log: Callable[[str], None] = lambda _: None,
          bad: Optional[preprocess.BadLines] = None, untitled: str = "drop"
          ) -> tuple[dict[str, list[str]], dict[str, schema.Item], dict]:
  """Raw dumps -> k-cored chronological sequences, items and stats (prepare and TFDS share it).

  `untitled`: "drop" removes items with no metadata or an empty title (with their
  interactions) before k-core; "placeholder" keeps them titled "Item <asin>", which
  keeps the plain 5-core counts that papers report for the 2014 dumps.
  """
  if untitled not in UNTITLED:
    raise ValueError(f"untitled must be one of {UNTITLED}, got {untitled!r}")
  counts: dict = {}
  sequences, items = load_category(raw_dir, category, release, progress, log, bad, counts)
  before = preprocess.compute_stats(sequences)
  if untitled == "drop":
    sequences, dropped = preprocess.drop_untitled(sequences, items)
  else:
    n = 0
    for item_id in {i for s in sequences.values() for i in s}:
      item = items.get(item_id)
      if item is None or not item.title:
        items[item_id] = schema.Item(item_id, f"Item {item_id}", *(
            (item.description, item.brand, item.categories, item.image) if item else ()))
        n += 1
    dropped = {"items_with_placeholder_title": n}
  sequences = preprocess.kcore(sequences, kcore)
  return sequences, items, dict(counts, **dropped, kcore=kcore, untitled=untitled,
                                before_kcore=before)
