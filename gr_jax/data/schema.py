"""Canonical per-dataset files and their readers/writers.

A dataset directory holds (written by `gr-jax prepare`):
  items.jsonl       {"item_id", "title", "description", "brand", "categories", "image"}
  sequences.jsonl   {"user_id", "items": [item_id, ...]}   chronological
  splits/train.jsonl, splits/valid.jsonl, splits/test.jsonl
                    {"user_id", "history": [item_id, ...], "target": item_id}
  stats.json        users, items, interactions, avg/median length, sparsity, skipped lines
  images/           optional local images referenced by items.jsonl
  latent_factors.json  synthetic catalog only: ground-truth item factors
File names and the later stages' folders: gr_jax/data/layout.py.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Iterator

from gr_jax import io_utils
from gr_jax.data import layout


ITEM_FIELDS = ("item_id", "title", "description", "brand", "categories", "image")


@dataclasses.dataclass
class Item:
  """One catalog item in canonical form."""
  item_id: str
  title: str
  description: str = ""
  brand: str = ""
  categories: list[str] = dataclasses.field(default_factory=list)
  image: str | None = None  # Local path (relative to the dataset dir), URL, or None.

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


@dataclasses.dataclass
class Example:
  """One leave-one-out example: a user's history and the item to predict."""
  user_id: str
  history: list[str]
  target: str

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


def _require(record: dict, field: str, kind, path: str, line: int):
  if field not in record:
    raise io_utils.BadInputError(path, line, field, "missing field")
  value = record[field]
  if not isinstance(value, kind):
    raise io_utils.BadInputError(
        path, line, field, f"expected {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
  return value


def split_path(data_dir: str, split: str) -> str:
  """Path of a leave-one-out split file ('train', 'valid' or 'test')."""
  if split == "validation":
    split = "valid"
  if split not in layout.SPLIT_NAMES:
    raise ValueError(f"unknown split {split!r}; expected one of {layout.SPLIT_NAMES}")
  return os.path.join(data_dir, layout.SPLITS_DIR, f"{split}.jsonl")


def require_prepared(data_dir: str) -> None:
  """StageError unless `data_dir` is a finished `gr-jax prepare` output (a valid done-marker)."""
  if not os.path.isdir(data_dir):
    raise FileNotFoundError(f"{data_dir}: no such dataset directory (run gr-jax prepare --out "
                            f"{data_dir})")
  marker = os.path.join(data_dir, layout.PREPARE_DONE)
  try:
    ok = isinstance(io_utils.read_json(marker).get("arguments"), dict)
  except (OSError, ValueError, AttributeError):
    ok = False
  if not ok:
    raise io_utils.StageError(
        f"{data_dir}: not a finished `gr-jax prepare` output (no valid {layout.PREPARE_DONE}: prepare "
        "failed, was killed, or never ran); run gr-jax prepare again")


def read_items(data_dir: str) -> Iterator[Item]:
  """Yields the items of `data_dir/items.jsonl`, validating every field."""
  path = os.path.join(data_dir, layout.ITEMS)
  for line, rec in io_utils.read_jsonl(path):
    item_id = _require(rec, "item_id", str, path, line)
    title = _require(rec, "title", str, path, line)
    cats = rec.get("categories") or []
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
      raise io_utils.BadInputError(path, line, "categories", "expected a list of strings")
    image = rec.get("image")
    if image is not None and not isinstance(image, str):
      raise io_utils.BadInputError(path, line, "image", "expected a string or null")
    yield Item(item_id=item_id, title=title, description=rec.get("description") or "",
               brand=rec.get("brand") or "", categories=cats, image=image)


def load_items(data_dir: str) -> dict[str, Item]:
  """Returns {item_id: Item} in file order."""
  return {item.item_id: item for item in read_items(data_dir)}


def read_sequences(data_dir: str) -> Iterator[tuple[str, list[str]]]:
  """Yields (user_id, chronological item ids) from `sequences.jsonl`."""
  path = os.path.join(data_dir, layout.SEQUENCES)
  for line, rec in io_utils.read_jsonl(path):
    user = _require(rec, "user_id", str, path, line)
    items = _require(rec, "items", list, path, line)
    yield user, [str(i) for i in items]


def read_split(data_dir: str, split: str) -> Iterator[Example]:
  """Yields the Examples of one leave-one-out split."""
  path = split_path(data_dir, split)
  for line, rec in io_utils.read_jsonl(path):
    yield Example(user_id=_require(rec, "user_id", str, path, line),
                  history=[str(i) for i in _require(rec, "history", list, path, line)],
                  target=str(_require(rec, "target", str, path, line)))


def write_items(data_dir: str, items: Iterable[Item]) -> int:
  """Writes items.jsonl atomically; returns the count."""
  return io_utils.atomic_write_jsonl(os.path.join(data_dir, layout.ITEMS),
                                     (i.to_json() for i in items))


def write_sequences(data_dir: str, sequences: Iterable[tuple[str, list[str]]]) -> int:
  """Writes sequences.jsonl atomically; returns the count."""
  return io_utils.atomic_write_jsonl(
      os.path.join(data_dir, layout.SEQUENCES),
      ({"user_id": u, "items": list(s)} for u, s in sequences))


def write_split(data_dir: str, split: str, examples: Iterable[Example]) -> int:
  """Writes one split file atomically; returns the count."""
  return io_utils.atomic_write_jsonl(split_path(data_dir, split), (e.to_json() for e in examples))
