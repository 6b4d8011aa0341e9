"""Shared preprocessing: text cleaning, k-core filtering, chronological order, leave-one-out, stats.

Policies (documented in the README and stats.json):
  * text: HTML entities unescaped (twice: Amazon meta is often double-escaped), tags
    removed, whitespace collapsed;
  * items without a title: their interactions are dropped before k-core filtering
    (a title is what every generation task and the text embedding start from), and
    the number of dropped items/interactions is reported;
  * order: interactions sorted by timestamp, ties kept in input order (stable);
    a user's repeated item keeps every occurrence;
  * k-core: users and items with fewer than k interactions are removed repeatedly
    until every remaining user and item has at least k;
  * leave-one-out: train = every prefix of items[:-2] predicting the next item,
    valid = predict items[-2], test = predict items[-1]; histories keep the last
    `max_history` items.
"""

from __future__ import annotations

import collections
import html
import re
import statistics
from typing import Iterable, Iterator, Mapping, Sequence

from gr_jax.data import schema

DEFAULT_KCORE = 5
DEFAULT_MAX_HISTORY = 20
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


def chronological(events: Iterable[tuple[str, str, float]]) -> dict[str, list[str]]:
  """(user, item, timestamp) events -> {user: items sorted by time (stable for ties)}."""
  per_user: dict[str, list[tuple[float, int, str]]] = collections.defaultdict(list)
  for n, (user, item, ts) in enumerate(events):
    per_user[user].append((float(ts), n, item))
  return {u: [i for _, _, i in sorted(evs)] for u, evs in per_user.items()}


def kcore(sequences: Mapping[str, Sequence[str]], k: int = DEFAULT_KCORE) -> dict[str, list[str]]:
  """Removes users and items with < k interactions until none is left (a fixed point)."""
  seqs = {u: list(s) for u, s in sequences.items()}
  if k <= 1:
    return {u: s for u, s in seqs.items() if s}
  while True:
    item_count = collections.Counter(i for s in seqs.values() for i in s)
    weak_items = {i for i, c in item_count.items() if c < k}
    changed = False
    if weak_items:
      seqs = {u: [i for i in s if i not in weak_items] for u, s in seqs.items()}
      changed = True
    weak_users = [u for u, s in seqs.items() if len(s) < k]
    if weak_users:
      for u in weak_users:
        del seqs[u]
      changed = True
    if not changed:
      return seqs


def leave_one_out(sequences: Iterable[tuple[str, Sequence[str]]],
                  max_history: int = DEFAULT_MAX_HISTORY
                  ) -> dict[str, list[schema.Example]]:
  """Leave-one-out examples {'train', 'valid', 'test'}; users with < 3 items are skipped."""
  out = {name: [] for name in schema.SPLIT_NAMES}
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
  def key(u):
    return (0, int(u), "") if u.isdigit() else (1, 0, u)
  for u in sorted(sequences, key=key):
    yield u, list(sequences[u])
