"""Atomic file writes and line-numbered JSONL reading shared by every stage."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import tempfile
import threading
from typing import Any, Callable, Iterable, Iterator

import numpy as np


class BadInputError(ValueError):
  """Raised on malformed input; the message names file, line and field."""

  def __init__(self, path: str, line: int | None, field: str | None, why: str):
    self.path, self.line, self.field, self.why = path, line, field, why
    where = str(path)
    if line is not None:
      where += f":{line}"
    if field is not None:
      where += f" field '{field}'"
    super().__init__(f"{where}: {why}")


class StageError(RuntimeError):
  """A failure the user must act on (bad state, unreachable server); the CLI prints one line."""


_UMASK_LOCK = threading.Lock()


def _file_mode() -> int:
  """0o666 less the process umask: the mode `open()` would give a new file (0644 usually)."""
  with _UMASK_LOCK:
    umask = os.umask(0o022)
    os.umask(umask)
  return 0o666 & ~umask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs):
  """Opens a temp file beside `path`; renames it over `path` only on success."""
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                             suffix=".tmp", dir=directory)
  try:
    os.fchmod(fd, _file_mode())  # mkstemp makes 0600; renamed files get open()'s mode.
    with os.fdopen(fd, mode, **kwargs) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp)
    raise


def atomic_write_text(path, text: str) -> None:
  """Writes `text` to `path` atomically."""
  with atomic_open(path, "w", encoding="utf-8") as f:
    f.write(text)


def atomic_write_json(path, obj: Any, indent: int | None = 2) -> None:
  """Writes `obj` as JSON to `path` atomically."""
  atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path, records: Iterable[dict]) -> int:
  """Writes one JSON object per line atomically; returns the number written."""
  n = 0
  with atomic_open(path, "w", encoding="utf-8") as f:
    for record in records:
      f.write(json.dumps(record, ensure_ascii=False) + "\n")
      n += 1
  return n


def atomic_save_npy(path, array: np.ndarray) -> None:
  """Saves a numpy array to `path` (.npy) atomically."""
  with atomic_open(path, "wb") as f:
    np.save(f, array, allow_pickle=False)


def append_jsonl(path, record: dict) -> None:
  """Appends one record and fsyncs, so a kill loses at most a partial last line."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "a", encoding="utf-8") as f:
    f.write(json.dumps(record, ensure_ascii=False) + "\n")
    f.flush()
    os.fsync(f.fileno())


def open_text(path: str | os.PathLike) -> io.TextIOBase:
  """Opens a text file, transparently gunzipping `.gz`; strict UTF-8."""
  path = os.fspath(path)
  if os.path.isdir(path):
    raise BadInputError(path, None, None, "is a directory, expected a file")
  if path.endswith(".gz"):
    return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="strict")
  return open(path, "r", encoding="utf-8", errors="strict")


def iter_lines(path) -> Iterator[tuple[int, str]]:
  """Yields (1-based line number, line) and turns decode/gzip errors into BadInputError."""
  lineno = 0
  try:
    with open_text(path) as f:
      for lineno, line in enumerate(f, start=1):
        yield lineno, line
  except UnicodeDecodeError as e:
    raise BadInputError(path, lineno + 1, None, f"not valid UTF-8 ({e.reason})") from e
  except (EOFError, gzip.BadGzipFile, OSError) as e:
    if isinstance(e, FileNotFoundError):
      raise
    raise BadInputError(path, lineno + 1, None, f"truncated or corrupt file ({e})") from e


def read_jsonl(path, parse: Callable[[str], Any] = json.loads,
               allow_partial_last_line: bool = False) -> Iterator[tuple[int, Any]]:
  """Yields (line number, parsed object) for each non-empty line of a JSONL file.

  With `allow_partial_last_line`, a malformed final line (a write killed
  mid-line) is ignored instead of raising; used by append-only caches.
  """
  pending = None
  for lineno, line in iter_lines(path):
    if pending is not None:
      raise pending
    if not line.strip():
      continue
    try:
      yield lineno, parse(line)
    except (ValueError, SyntaxError) as e:
      err = BadInputError(path, lineno, None, f"malformed line ({e})")
      if allow_partial_last_line and not line.endswith("\n"):
        pending = err  # Raise only if another line follows.
        continue
      raise err from e


def read_json(path: str | os.PathLike, duplicates: list | None = None) -> Any:
  """The JSON document in `path` (`.gz` gunzipped); bad JSON or UTF-8 raises BadInputError.

  With a `duplicates` list, an object key seen twice keeps its first value and is appended
  to the list (plain `json.load` keeps the last one silently).
  """
  def first_wins(pairs):
    out = {}
    for k, v in pairs:
      if k in out:
        duplicates.append(k)
      else:
        out[k] = v
    return out

  try:
    with open_text(path) as f:
      return json.load(f, object_pairs_hook=first_wins if duplicates is not None else None)
  except ValueError as e:  # JSONDecodeError (with a line) or UnicodeDecodeError.
    raise BadInputError(os.fspath(path), getattr(e, "lineno", None), None,
                        f"not valid JSON or not UTF-8 ({e})") from e


def read_json_or_empty(path: str | os.PathLike) -> dict:
  """A JSON object from `path`, or {} when absent or malformed (resume state, manifests)."""
  try:
    with open(path, encoding="utf-8") as f:
      obj = json.load(f)
    return obj if isinstance(obj, dict) else {}
  except (OSError, ValueError):
    return {}
