"""Most-popular baseline: every user gets the items most frequent in the training interactions."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


class Popularity:
  """Ranks the catalog by training-interaction count (ties: catalog order)."""

  def __init__(self, item_ids: Sequence[str]):
    self.item_ids = list(item_ids)
    self._index = {item: n for n, item in enumerate(self.item_ids)}
    self.counts = np.zeros(len(self.item_ids), np.int64)

  def fit(self, sequences: Mapping[str, Sequence[str]]) -> "Popularity":
    """Counts every item occurrence of the training sequences; unknown ids are ignored."""
    self.counts[:] = 0
    for items in sequences.values():
      for item in items:
        n = self._index.get(item)
        if n is not None:
          self.counts[n] += 1
    return self

  def ranking(self) -> np.ndarray:
    """Catalog indices, most popular first (stable for ties)."""
    return np.argsort(-self.counts, kind="stable")

  def predict(self, num_users: int, top_k: int = 10) -> np.ndarray:
    """[num_users, top_k] catalog indices (the same list for everyone)."""
    top = self.ranking()[:top_k]
    return np.broadcast_to(top, (num_users, len(top))).copy()
