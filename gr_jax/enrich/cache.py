"""Append-only enrichment cache keyed by item id + content hash + backend + model + prompt version."""

from __future__ import annotations

import hashlib
import json
import os

from gr_jax import io_utils


def content_hash(inputs: dict) -> str:
  """sha256 (16 hex) of the canonical JSON of everything a backend reads for one item."""
  blob = json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
  return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def record_key(item_id: str, chash: str, backend: str, model: str, prompt_version: str) -> str:
  """The cache key of one item's record (16 hex)."""
  blob = json.dumps([item_id, chash, backend, model, prompt_version], ensure_ascii=False)
  return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def file_sha(path: str) -> str:
  """sha256 (16 hex) of a file's bytes."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()[:16]


def repair_tail(path: str) -> bool:
  """Drops a partial last line (a write killed mid-line) so appends stay line-aligned.

  Rewrites the file atomically up to its last newline; returns True if it did.
  """
  if not os.path.exists(path) or os.path.getsize(path) == 0:
    return False
  with open(path, "rb") as f:
    f.seek(-1, os.SEEK_END)
    if f.read(1) == b"\n":
      return False
    f.seek(0)
    data = f.read()
  keep = data[:data.rfind(b"\n") + 1]
  with io_utils.atomic_open(path, "wb") as f:
    f.write(keep)
  return True


def _key_of(rec: dict) -> str:
  return rec.get("key") or f"nokey:{rec.get('item_id')}"


class Cache:
  """Records of one enrichment output (captions or interests), main file + archive.

  The main file is append-only during a run (one fsynced line per finished item,
  so a kill loses only in-flight items). `compact` rewrites it atomically with
  exactly the current items' current-key records sorted by item id, and moves
  every other record (other backend/model/prompt, stale content, removed items)
  to the archive file, where later runs still find them.
  """

  def __init__(self, path: str, archive_path: str):
    self.path, self.archive_path = path, archive_path
    repair_tail(path)
    self.records: dict[str, dict] = {}
    for p in (archive_path, path):  # Main file last: its records win.
      if os.path.exists(p):
        for line, rec in io_utils.read_jsonl(p, allow_partial_last_line=True):
          if not isinstance(rec, dict) or not isinstance(rec.get("item_id"), str):
            raise io_utils.BadInputError(p, line, "item_id", "record without a string item_id")
          self._put(rec)

  def _put(self, rec: dict) -> None:
    key = _key_of(rec)
    old = self.records.get(key)
    if old is not None and old.get("status") == "ok" and rec.get("status") != "ok":
      return  # An ok answer is never replaced by a later failure.
    self.records[key] = rec

  def get(self, key: str) -> dict | None:
    """The record stored under `key`, if any."""
    return self.records.get(key)

  def is_done(self, key: str, retry_failed: bool = True) -> bool:
    """True if `key` has an ok record, or a failed one that should not be retried."""
    rec = self.records.get(key)
    if rec is None:
      return False
    if rec.get("status") == "ok":
      return True
    return bool(rec.get("permanent")) or not retry_failed

  def append(self, rec: dict) -> None:
    """Appends one record (fsynced) and indexes it."""
    io_utils.append_jsonl(self.path, rec)
    self._put(rec)

  def compact(self, current: dict[str, str]) -> dict:
    """Rewrites main (current {item_id: key} records, sorted) and archive atomically.

    Returns {"kept": n, "archived": m}. The archive is written first, so a kill
    between the two renames duplicates records (harmless) and loses none.
    """
    wanted = set(current.values())
    keep = [self.records[current[i]] for i in sorted(current) if current[i] in self.records]
    rest = sorted((r for k, r in self.records.items() if k not in wanted),
                  key=lambda r: (r["item_id"], _key_of(r)))
    if rest:
      io_utils.atomic_write_jsonl(self.archive_path, rest)
    elif os.path.exists(self.archive_path):
      os.remove(self.archive_path)
    io_utils.atomic_write_jsonl(self.path, keep)
    return {"kept": len(keep), "archived": len(rest)}
