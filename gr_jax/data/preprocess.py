"""Shared preprocessing: text cleaning, k-core filtering, chronological order, leave-one-out, stats.

Policies (documented in the README and stats.json):
  * text: HTML entities unescaped (twice: Amazon meta is often double-escaped), tags
    removed, whitespace collapsed;
  * items without a title, raw dumps: items with no metadata line or an empty title are
    dropped with their interactions before k-core filtering (a title is what every
    generation task and the text embedding start from); counts go to stats.json;
  * items without a title, peer formats: the peer's catalog and splits are kept as
    published, an untitled item gets the placeholder title "Item <id>" (counted);
    an item id with no item record at all is bad input;
  * order: interactions sorted by timestamp, ties kept in input order (stable);
    exact duplicate events (same user, item and timestamp, common in the 2018 dumps)
    are dropped and counted; a repeat purchase at another time is kept;
  * k-core: users and items with fewer than k interactions are removed repeatedly
    until every remaining user and item has at least k;
  * leave-one-out: train = every prefix of items[:-2] predicting the next item,
    valid = predict items[-2], test = predict items[-1]; histories keep the last
    `max_history` items.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import html
import os
import re
import statistics
import zlib
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import tqdm

from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import schema

DEFAULT_KCORE = 5
_TAG = re.compile(r"<[^<>]{0,200}>")
_SPACE = re.compile(r"\s+")


def clean_text(text) -> str:
  """Unescapes HTML entities, removes tags and collapses whitespace ('' for None)."""
  if text is None:
    return ""
  if isinstance(text, (list, tuple)):
    text = " ".join(str(t) for t in text if t)
  text = html.unescape(html.unescape(str(text)))
  text = _TAG.sub(" ", text)
  return _SPACE.sub(" ", text).strip()


ON_BAD_LINE = ("error", "skip")


@dataclasses.dataclass
class BadLines:
  """How input is read: --on_bad_line policy (raise, or skip and count) and progress bars."""
  policy: str = "error"
  progress: bool = False  # Line readers show a tqdm bar per file.
  counts: dict = dataclasses.field(default_factory=collections.Counter)
  examples: list = dataclasses.field(default_factory=list)

  def __post_init__(self):
    if self.policy not in ON_BAD_LINE:
      raise ValueError(f"on_bad_line must be one of {ON_BAD_LINE}, got {self.policy!r}")

  def handle(self, error: io_utils.BadInputError) -> None:
    """Raises `error` under 'error'; records it under 'skip'."""
    if self.policy == "error":
      raise error
    self.counts[str(error.path)] += 1
    if len(self.examples) < 10:
      self.examples.append(str(error))

  def to_stats(self) -> dict:
    return {"bad_lines_skipped": sum(self.counts.values()),
            "bad_lines_per_file": dict(self.counts), "bad_line_examples": list(self.examples)}


def iter_lines(path: str, bad: BadLines | None = None, progress: bool | None = None
               ) -> Iterator[tuple[int, str]]:
  """(1-based line number, text) of a plain or gzipped file, each line decoded on its own.

  A line that is not UTF-8 is bad input (skippable: the next line still reads); a
  truncated or corrupt gzip stream is bad input at the line where it breaks (under
  'skip' the rest of that file is lost and counted as one bad line).
  """
  bad = bad or BadLines()
  path = os.fspath(path)
  if os.path.isdir(path):
    raise io_utils.BadInputError(path, None, None, "is a directory, expected a file")
  opener = gzip.open if path.endswith(".gz") else open
  show = bad.progress if progress is None else progress
  lineno = 0
  try:
    with opener(path, "rb") as f:
      lines = tqdm.tqdm(f, desc=os.path.basename(path), unit=" lines", disable=not show,
                        mininterval=1.0, leave=False)
      for lineno, raw in enumerate(lines, start=1):
        try:
          yield lineno, raw.decode("utf-8")
        except UnicodeDecodeError as e:
          bad.handle(io_utils.BadInputError(path, lineno, None, f"not valid UTF-8 ({e.reason})"))
  except (EOFError, gzip.BadGzipFile, zlib.error) as e:
    bad.handle(io_utils.BadInputError(path, lineno + 1, None, f"truncated or corrupt file ({e})"))


def chronological(events: Iterable[tuple[str, str, float]], dedupe: bool = False,
                  counts: dict | None = None) -> dict[str, list[str]]:
  """(user, item, timestamp) events -> {user: items sorted by time (stable for ties)}.

  With `dedupe`, exact duplicate (user, item, timestamp) events are kept once and
  counted in `counts["duplicate_interactions_dropped"]`.
  """
  per_user: dict[str, list[tuple[float, int, str]]] = collections.defaultdict(list)
  for n, (user, item, ts) in enumerate(events):
    per_user[user].append((float(ts), n, item))
  out, duplicates = {}, 0
  for user, evs in per_user.items():
    evs.sort()
    if dedupe:  # Per user, so no global set of every event is held at once.
      seen: set = set()
      kept = []
      for ts, _, item in evs:
        if (ts, item) in seen:
          duplicates += 1
        else:
          seen.add((ts, item))
          kept.append(item)
      out[user] = kept
    else:
      out[user] = [i for _, _, i in evs]
  if counts is not None:
    counts["duplicate_interactions_dropped"] = duplicates
  return out


def kcore(sequences: Mapping[str, Sequence[str]], k: int = DEFAULT_KCORE) -> dict[str, list[str]]:
  """Removes users and items with < k interactions until none is left (a fixed point).

  Peeling is monotone, so the result is the unique largest k-core whatever the
  removal order; counts are vectorised (numpy) so millions of interactions take seconds.
  Kept users keep their surviving items in order.
  """
  if k <= 1:
    return {u: list(s) for u, s in sequences.items() if s}
  users = list(sequences)
  lengths = np.fromiter((len(sequences[u]) for u in users), np.int64, len(users))
  item_index: dict[str, int] = {}
  flat = np.fromiter((item_index.setdefault(i, len(item_index))
                      for u in users for i in sequences[u]), np.int64, int(lengths.sum()))
  user_of = np.repeat(np.arange(len(users)), lengths)
  alive = np.ones(len(flat), bool)
  while True:
    item_count = np.bincount(flat[alive], minlength=len(item_index))
    user_count = np.bincount(user_of[alive], minlength=len(users))
    keep = alive & (item_count[flat] >= k) & (user_count[user_of] >= k)
    if keep.sum() == alive.sum():
      break
    alive = keep
  names = np.array(list(item_index), dtype=object)
  starts = np.concatenate([[0], np.cumsum(lengths)])
  out = {}
  for n, u in enumerate(users):
    mask = alive[starts[n]:starts[n + 1]]
    if mask.any():
      out[u] = names[flat[starts[n]:starts[n + 1]][mask]].tolist()
  return out


def leave_one_out(sequences: Iterable[tuple[str, Sequence[str]]],
                  max_history: int = layout.MAX_HISTORY
                  ) -> dict[str, list[schema.Example]]:
  """Leave-one-out examples {'train', 'valid', 'test'}; users with < 3 items are skipped."""
  out = {name: [] for name in layout.SPLIT_NAMES}
  cap = (lambda h: h[-max_history:]) if max_history and max_history > 0 else (lambda h: h)
  for user, items in sequences:
    items = list(items)
    if len(items) < 3:
      continue
    for t in range(1, len(items) - 2):
      out["train"].append(schema.Example(user, cap(items[:t]), items[t]))
    out["valid"].append(schema.Example(user, cap(items[:-2]), items[-2]))
    out["test"].append(schema.Example(user, cap(items[:-1]), items[-1]))
  return out


def drop_untitled(sequences: Mapping[str, Sequence[str]], items: Mapping[str, schema.Item]
                  ) -> tuple[dict[str, list[str]], dict]:
  """Drops interactions with items that are unknown or have no title; returns (seqs, counts)."""
  dropped_items, dropped = set(), 0
  out = {}
  for u, s in sequences.items():
    keep = []
    for i in s:
      item = items.get(i)
      if item is None or not item.title.strip():
        dropped_items.add(i)
        dropped += 1
      else:
        keep.append(i)
    out[u] = keep
  return out, {"items_without_title_or_metadata": len(dropped_items),
               "interactions_dropped_for_missing_title": dropped}


def placeholder_titles(sequences: Mapping[str, Sequence[str]], items: dict[str, schema.Item],
                       path: str, bad: BadLines) -> tuple[dict[str, list[str]], dict]:
  """Peer policy: untitled items get "Item <id>"; ids with no item record are bad input."""
  unknown: dict[str, int] = collections.Counter()
  for s in sequences.values():
    for i in s:
      if i not in items:
        unknown[i] += 1
  if unknown:
    first = sorted(unknown, key=_id_key)[0]
    bad.handle(io_utils.BadInputError(path, None, "item_id", f"{len(unknown)} item ids of the "
                                      f"interactions have no item record (e.g. {first!r})"))
    sequences = {u: [i for i in s if i not in unknown] for u, s in sequences.items()}
  untitled = 0
  for item_id in {i for s in sequences.values() for i in s}:
    item = items[item_id]
    if not item.title.strip():
      items[item_id] = dataclasses.replace(item, title=f"Item {item_id}")
      untitled += 1
  return sequences, {"items_with_placeholder_title": untitled,
                     "unknown_item_ids_dropped": len(unknown),
                     "interactions_with_unknown_items_dropped": sum(unknown.values())}


def peer_split_agreement(ours: Mapping[str, Sequence[str]], peer_targets: Mapping[str, tuple]
                         ) -> dict:
  """How many users' (valid, test) targets of the peer equal our leave-one-out targets."""
  valid = test = n = 0
  for user, (peer_valid, peer_test) in peer_targets.items():
    seq = ours.get(user)
    if not seq or len(seq) < 3:
      continue
    n += 1
    valid += peer_valid is not None and seq[-2] == peer_valid
    test += peer_test is not None and seq[-1] == peer_test
  return {"users_compared": n, "valid_targets_equal": valid, "test_targets_equal": test}


def _id_key(x: str):
  return (0, int(x), "") if x.isdigit() else (1, 0, x)


def compute_stats(sequences: Mapping[str, Sequence[str]], extra: Mapping | None = None) -> dict:
  """users, items, interactions, avg/median length and sparsity of a sequence set."""
  lengths = [len(s) for s in sequences.values()]
  n_items = len({i for s in sequences.values() for i in s})
  n_users, n_inter = len(lengths), sum(lengths)
  stats = {
      "users": n_users, "items": n_items, "interactions": n_inter,
      "avg_length": n_inter / n_users if n_users else 0.0,
      "median_length": float(statistics.median(lengths)) if lengths else 0.0,
      "min_length": min(lengths) if lengths else 0, "max_length": max(lengths) if lengths else 0,
      "sparsity": 1.0 - n_inter / (n_users * n_items) if n_users and n_items else 1.0,
  }
  stats.update(extra or {})
  return stats


def iter_sorted_users(sequences: Mapping[str, Sequence[str]]) -> Iterator[tuple[str, list[str]]]:
  """(user, items) in a stable order: numeric ids numerically, then the rest as strings."""
  for u in sorted(sequences, key=_id_key):
    yield u, list(sequences[u])
