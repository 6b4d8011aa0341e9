"""SID collisions: rate, last-level reassignment to the nearest free code, disambiguation level."""

from __future__ import annotations

import collections

import numpy as np


def collision_rate(codes_NxL: np.ndarray) -> float:
  """1 - (#distinct SIDs / #items): 0 when every item has its own SID."""
  n = codes_NxL.shape[0]
  if n == 0:
    return 0.0
  return 1.0 - np.unique(np.asarray(codes_NxL), axis=0).shape[0] / n


def _groups(codes_NxL: np.ndarray) -> list[np.ndarray]:
  """Row indices of each SID shared by more than one item (rows in ascending order)."""
  _, inverse, counts = np.unique(codes_NxL, axis=0, return_inverse=True, return_counts=True)
  inverse = inverse.reshape(-1)
  order = np.argsort(inverse, kind="stable")
  bounds = np.cumsum(counts)[:-1]
  return [g for g in np.split(order, bounds) if g.size > 1]


def reassign_last_level(codes_NxL: np.ndarray, last_residual_NxD: np.ndarray,
                        last_codebook_KxD: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Moves colliding items to the nearest unused last-level code under the same prefix.

  In each colliding group the item closest to the shared code keeps it; the others, in
  order of distance, take the nearest code whose full SID is still free (MQL4GRec / LC-Rec
  style). Returns (new codes, indices of items that could not be placed because every
  code under their prefix is taken); those still collide.
  """
  codes = np.array(codes_NxL, copy=True)
  k = last_codebook_KxD.shape[0]
  taken = collections.defaultdict(set)
  for row in map(tuple, codes):
    taken[row[:-1]].add(row[-1])
  unplaced = []
  groups = _groups(codes)
  if not groups:
    return codes, np.zeros((0,), np.int64)
  rows = np.concatenate(groups)
  res = np.asarray(last_residual_NxD[rows], np.float32)
  cb = np.asarray(last_codebook_KxD, np.float32)
  # Exact distances of only the colliding rows to all last-level codes (bounded: chunks).
  d_RxK = np.concatenate([
      (np.sum(res[i:i + 4096] ** 2, -1, keepdims=True) - 2 * res[i:i + 4096] @ cb.T
       + np.sum(cb ** 2, -1)[None]) for i in range(0, len(rows), 4096)])
  pos = {int(r): i for i, r in enumerate(rows)}
  for group in groups:
    own = np.array([d_RxK[pos[int(r)], codes[r, -1]] for r in group])
    order = group[np.argsort(own, kind="stable")]
    for r in order[1:]:
      prefix = tuple(codes[r, :-1])
      used = taken[prefix]
      if len(used) >= k:
        unplaced.append(int(r))
        continue
      for code in np.argsort(d_RxK[pos[int(r)]], kind="stable"):
        if int(code) not in used:
          codes[r, -1] = int(code)
          used.add(int(code))
          break
  return codes, np.asarray(unplaced, np.int64)


def append_level(codes_NxL: np.ndarray) -> tuple[np.ndarray, int]:
  """TIGER: appends one level numbering the items of each shared SID 0, 1, ... (0 if unique).

  Returns (codes [N, L+1], size of the new level = the largest group).
  """
  extra = np.zeros((codes_NxL.shape[0], 1), codes_NxL.dtype)
  size = 1
  for group in _groups(codes_NxL):
    extra[group, 0] = np.arange(group.size)
    size = max(size, group.size)
  return np.concatenate([codes_NxL, extra], axis=1), size


def resolve(codes_NxL: np.ndarray, strategy: str, last_residual_NxD=None,
            last_codebook_KxD=None) -> tuple[np.ndarray, list[int] | None, dict]:
  """Applies `strategy` ('reassign', 'append', 'none').

  Returns (final codes, size of an appended level or None, info). 'reassign' falls back
  to appending a level when a prefix has more items than codes, so SIDs end unique
  (except with 'none').
  """
  info = {"strategy": strategy, "reassigned": 0, "appended_level": False}
  extra_size = None
  codes = np.asarray(codes_NxL)
  if strategy == "reassign":
    new, unplaced = reassign_last_level(codes, last_residual_NxD, last_codebook_KxD)
    info["reassigned"] = int(np.sum(np.any(new != codes, axis=1)))
    codes = new
    if unplaced.size:
      codes, extra_size = append_level(codes)
      info["appended_level"] = True
  elif strategy == "append":
    if collision_rate(codes) > 0:
      codes, extra_size = append_level(codes)
      info["appended_level"] = True
  elif strategy != "none":
    raise ValueError(f"unknown collision strategy {strategy!r}")
  return codes, extra_size, info

