"""The papers' published numbers (published.csv: paper, table, dataset, method, metric, value, source)."""

from __future__ import annotations

import csv
import dataclasses
import functools
import os
from typing import Optional

CSV_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "published.csv")
FIELDS = ("paper", "table", "dataset", "method", "metric", "value", "source")
RANKING_METRICS = ("HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10")


@dataclasses.dataclass(frozen=True)
class Row:
  """One published value and where it was copied from."""
  paper: str
  table: str
  dataset: str
  method: str
  metric: str
  value: float
  source: str


def read(path: str = CSV_PATH) -> list[Row]:
  """All rows of a published.csv (header FIELDS); a malformed row names its line."""
  rows = []
  with open(path, encoding="utf-8", newline="") as f:
    reader = csv.reader(f)
    header = next(reader, None)
    if tuple(header or ()) != FIELDS:
      raise ValueError(f"{path}:1: header must be {','.join(FIELDS)}, got {header}")
    for line, rec in enumerate(reader, start=2):
      if len(rec) != len(FIELDS):
        raise ValueError(f"{path}:{line}: expected {len(FIELDS)} fields, got {len(rec)}")
      try:
        value = float(rec[5])
      except ValueError as e:
        raise ValueError(f"{path}:{line}: field 'value' is not a number: {rec[5]!r}") from e
      rows.append(Row(*rec[:5], value, rec[6]))
  return rows


@functools.lru_cache(maxsize=4)
def _rows(path: str) -> tuple[Row, ...]:
  return tuple(read(path))


def lookup(paper: str, dataset: str, method: str, table: Optional[str] = None,
           path: str = CSV_PATH) -> dict[str, Row]:
  """{metric: Row} published for one (paper, dataset, method), {} when none was."""
  return {r.metric: r for r in _rows(path)
          if (r.paper, r.dataset, r.method) == (paper, dataset, method)
          and (table is None or r.table == table)}


def datasets(paper: str, path: str = CSV_PATH) -> list[str]:
  """Datasets with a published value in `paper`, in file order."""
  return list(dict.fromkeys(r.dataset for r in _rows(path) if r.paper == paper))


def dataset_stats(paper: str, dataset: str, path: str = CSV_PATH) -> dict[str, int]:
  """{users, items, interactions} the paper reports for its split ({} when it does not)."""
  return {m: int(r.value) for m, r in lookup(paper, dataset, "dataset", path=path).items()}
