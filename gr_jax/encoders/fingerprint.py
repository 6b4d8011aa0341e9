"""Content fingerprints that decide whether an embeddings file is up to date."""

from __future__ import annotations

import functools
import hashlib
import json
import os


@functools.lru_cache(maxsize=16)
def _file_digest_cached(path: str, size: int, mtime_ns: int) -> str:
  del size, mtime_ns  # Cache keys only.
  h = hashlib.sha256()
  with open(path, "rb") as f:
    while block := f.read(1 << 22):
      h.update(block)
  return h.hexdigest()


def file_digest(path: str) -> str:
  """sha256 hex digest of a file (cached per path, size and mtime)."""
  st = os.stat(path)
  return _file_digest_cached(os.path.abspath(path), st.st_size, st.st_mtime_ns)


def file_stamp(path: str | None) -> list:
  """Cheap identity of an input file: [size, mtime_ns], or None when absent."""
  if path is None:
    return None
  try:
    st = os.stat(path)
  except OSError:
    return None
  return [st.st_size, st.st_mtime_ns]


class Hasher:
  """Incremental sha256 over JSON-serialisable values."""

  def __init__(self, *values):
    self._h = hashlib.sha256()
    for v in values:
      self.add(v)

  def add(self, value) -> "Hasher":
    self._h.update(json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    self._h.update(b"\n")
    return self

  def hexdigest(self) -> str:
    return self._h.hexdigest()
