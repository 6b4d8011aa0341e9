"""Import of precomputed item embeddings (.npy + id list), as LC-Rec / MQL4GRec publish them.

Row-to-item mapping, `ids` argument:
  a path   one id per line (row order, like our ids.txt); or `id<TAB>row` lines
           (UniSRec/LC-Rec `.item2index`); or JSON: a list (row order) or {id: row}.
  "index"  row r belongs to the item whose id is the integer r (LC-Rec `.emb-*.npy`).
  None     rows follow items.jsonl order (counts must match).
Catalog items absent from the mapping are an error unless `allow_missing`, in
which case they get the fallback (normalised mean) row and are counted.
Extra ids (not in the catalog) are ignored and counted.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from gr_jax import io_utils
from gr_jax.embed import fusion


def read_id_map(path: str) -> tuple[dict[str, int], bool]:
  """Parses an id list file into ({item_id: row}, rows given explicitly); duplicates are errors."""
  mapping: dict[str, int] = {}
  if path.endswith(".json"):
    obj = io_utils.read_json(path)
    explicit = isinstance(obj, dict)
    if isinstance(obj, list):
      pairs = [(str(k), r) for r, k in enumerate(obj)]
    elif isinstance(obj, dict):
      pairs = []
      for k, r in obj.items():
        if not isinstance(r, int) or isinstance(r, bool):
          raise io_utils.BadInputError(path, None, str(k), f"row must be an integer, got {r!r}")
        pairs.append((str(k), r))
    else:
      raise io_utils.BadInputError(path, None, None, "expected a JSON list or object")
    for k, r in pairs:
      if k in mapping:
        raise io_utils.BadInputError(path, None, k, "duplicate id")
      mapping[k] = r
    return mapping, explicit
  row, explicit = 0, False
  for lineno, line in io_utils.iter_lines(path):
    line = line.rstrip("\r\n")
    if not line.strip():
      continue
    if "\t" in line:
      explicit = True
      key, _, value = line.partition("\t")
      try:
        r = int(value.strip())
      except ValueError as e:
        raise io_utils.BadInputError(path, lineno, "row", f"not an integer: {value!r}") from e
    else:
      key, r = line, row
    key = key.strip()
    if key in mapping:
      raise io_utils.BadInputError(path, lineno, "item_id", f"duplicate id {key!r}")
    mapping[key] = r
    row += 1
  return mapping, explicit


def load(npy_path: str, item_ids: Sequence[str], ids: str | None = None,
         allow_missing: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
  """Returns (unit-norm float32 [N, D] in `item_ids` order, ok mask [N], report)."""
  try:
    arr = np.load(npy_path, allow_pickle=False, mmap_mode="r")
  except (OSError, ValueError) as e:
    raise io_utils.BadInputError(npy_path, None, None, f"cannot read .npy ({e})") from e
  if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
    raise io_utils.BadInputError(npy_path, None, None, f"expected a 2-D [rows, dim] array, got shape {arr.shape}")
  if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
    raise io_utils.BadInputError(npy_path, None, None, f"non-numeric dtype {arr.dtype}")
  rows_total = arr.shape[0]
  if ids is None:
    if rows_total != len(item_ids):
      raise io_utils.BadInputError(
          npy_path, None, None, f"{rows_total} rows but the catalog has {len(item_ids)} items; "
          "pass an id list to say which row is which item")
    mapping = {k: r for r, k in enumerate(item_ids)}
    source = "items.jsonl order"
  elif ids == "index":
    mapping = {}
    for k in item_ids:
      if k.isdigit() and int(k) < rows_total:
        mapping[k] = int(k)
    source = "row = integer item id"
  else:
    mapping, explicit = read_id_map(ids)
    source = os.path.basename(ids)
    if not explicit and len(mapping) != rows_total:
      raise io_utils.BadInputError(ids, None, None,
                                   f"{len(mapping)} ids for {rows_total} rows in {npy_path}")
    bad = {k: r for k, r in mapping.items() if not 0 <= r < rows_total}
    if bad:
      k, r = next(iter(bad.items()))
      raise io_utils.BadInputError(ids, None, k, f"row {r} out of range for {rows_total} rows")
  catalog = set(item_ids)
  missing = [k for k in item_ids if k not in mapping]
  extra = [k for k in mapping if k not in catalog]
  if missing and not allow_missing:
    raise io_utils.BadInputError(
        ids or npy_path, None, "item_id",
        f"{len(missing)} of {len(item_ids)} catalog items have no row (first: {missing[:5]}); "
        "fix the id list or allow missing items (fallback row)")
  out = np.zeros((len(item_ids), arr.shape[1]), np.float32)
  ok = np.zeros((len(item_ids),), bool)
  present = [(i, mapping[k]) for i, k in enumerate(item_ids) if k in mapping]
  if present:
    dst, src = map(np.asarray, zip(*present))
    out[dst] = np.asarray(arr[src], np.float32)
    ok[dst] = True
  finite = np.isfinite(out).all(axis=1)
  if not finite.all():
    i = int(np.flatnonzero(~finite)[0])
    raise io_utils.BadInputError(npy_path, None, f"row {mapping[item_ids[i]]}",
                                 f"non-finite values (item {item_ids[i]!r})")
  zero = ok & (np.linalg.norm(out, axis=1) == 0)
  ok &= ~zero
  out = fusion.normalize(out)
  if ok.any() and not ok.all():
    out[~ok] = fusion.normalize(out[ok].mean(axis=0, keepdims=True))[0]
  report = {"file": npy_path, "rows": int(rows_total), "dim": int(arr.shape[1]), "ids": source,
            "missing": len(missing), "missing_examples": missing[:10],
            "zero_rows": int(zero.sum()), "extra_ids_ignored": len(extra),
            "fallback": "normalised mean of the imported rows" if (~ok).any() else None}
  return out, ok, report
