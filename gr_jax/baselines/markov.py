"""First-order Markov baseline: the next item's category from the last item's, then popularity.

score(i | history) = P(cat(i) | cat(last item)) · P(i | cat(i)), both counted on the training
sequences only:

* P(c' | c) = (n(c → c') + alpha · P(c')) / (n(c) + alpha): consecutive-pair counts of the
  training sequences, Dirichlet-smoothed towards the marginal category distribution P(c');
* P(i | c) = (n(i) + 1) / (n(c) + |c|): add-one item counts within the category.

With leaf categories this is what a model that knew nothing of the user but the last item's
category could learn from the training split; a learned model that ranks no better than it
has not used the rest of the history. Items without a category are their own category, so on
a catalog without categories (e.g. LC-Rec's Instruments split) it is an item-to-item Markov
chain backing off to popularity.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from gr_jax.data import schema


def leaf_categories(items: Mapping[str, schema.Item], item_ids: Sequence[str]) -> list[str]:
  """The most specific category of each item (its own id, marked, when it has none)."""
  out = []
  for item_id in item_ids:
    item = items.get(item_id)
    cats = [c for c in (item.categories if item else []) if c]
    out.append(cats[-1] if cats else f"<item:{item_id}>")
  return out


class CategoryMarkov:
  """Ranks the catalog by P(category | last item's category) · P(item | category)."""

  def __init__(self, item_ids: Sequence[str], categories: Sequence[str], alpha: float = 1.0):
    if len(categories) != len(item_ids):
      raise ValueError(f"{len(categories)} categories for {len(item_ids)} items")
    if alpha <= 0:
      raise ValueError(f"alpha must be > 0, got {alpha}")
    self.item_ids = list(item_ids)
    self.alpha = float(alpha)
    self._index = {item: n for n, item in enumerate(self.item_ids)}
    names = sorted(set(categories))
    self.category_names = names
    cat_index = {c: n for n, c in enumerate(names)}
    self.item_category = np.array([cat_index[c] for c in categories], np.int64)
    # Fitted state: the nonzero consecutive-pair counts, sorted by key c * C + c' (sparse, so an
    # item-to-item chain over a 10k-item catalog holds its pairs, not a dense [C, C] matrix).
    self._pair_keys = np.zeros(0, np.int64)
    self._pair_counts = np.zeros(0, np.float64)
    self._row_totals = np.zeros(len(names), np.float64)  # n(c): pairs leaving c.
    self.marginal = np.full(len(names), 1.0 / len(names))  # P(c'), the smoothing target.
    self.within = np.zeros(len(self.item_ids), np.float64)  # P(i | cat(i)) once fit.

  def fit(self, sequences: Mapping[str, Sequence[str]]) -> "CategoryMarkov":
    """Counts item occurrences and consecutive category pairs; unknown ids are skipped."""
    num_cats = len(self.category_names)
    counts = np.zeros(len(self.item_ids), np.float64)
    keys = []
    for items in sequences.values():
      known = [self._index[i] for i in items if i in self._index]
      np.add.at(counts, known, 1.0)
      cats = self.item_category[known]
      keys.append(cats[:-1] * num_cats + cats[1:])
    self._pair_keys, pair_counts = np.unique(np.concatenate(keys) if keys else np.zeros(0, np.int64),
                                             return_counts=True)
    self._pair_counts = pair_counts.astype(np.float64)
    self._row_totals = np.bincount(self._pair_keys // num_cats, weights=self._pair_counts,
                                   minlength=num_cats).astype(np.float64)
    cat_counts = np.bincount(self.item_category, weights=counts, minlength=num_cats)
    self.marginal = (cat_counts + 1.0) / (cat_counts.sum() + num_cats)
    cat_sizes = np.bincount(self.item_category, minlength=num_cats)
    self.within = (counts + 1.0) / (cat_counts + cat_sizes)[self.item_category]
    return self

  def transition_row(self, category: int) -> np.ndarray:
    """P(c' | category) for every c': (n(category → c') + alpha · P(c')) / (n(category) + alpha)."""
    num_cats = len(self.category_names)
    start, end = np.searchsorted(self._pair_keys, [category * num_cats, (category + 1) * num_cats])
    row = self.alpha * self.marginal
    np.add.at(row, self._pair_keys[start:end] - category * num_cats, self._pair_counts[start:end])
    return row / (self._row_totals[category] + self.alpha)

  @property
  def transitions(self) -> np.ndarray:
    """The dense [C, C] matrix of `transition_row`s (for inspection; O(C²) memory)."""
    return np.stack([self.transition_row(c) for c in range(len(self.category_names))])

  def _no_history_row(self) -> np.ndarray:
    """The mean of all transition rows, from the sparse counts: what an empty history gets."""
    num_cats = len(self.category_names)
    weight = 1.0 / (self._row_totals + self.alpha)  # Per source category.
    mean = np.bincount(self._pair_keys % num_cats,
                       weights=self._pair_counts * weight[self._pair_keys // num_cats],
                       minlength=num_cats)
    return (mean + self.alpha * self.marginal * weight.sum()) / num_cats

  def scores(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
    """[U, num_items] next-item probabilities; an empty or unknown history gets the mean row."""
    no_history = None
    rows = []
    for history in histories:
      last = next((self._index[i] for i in reversed(history) if i in self._index), None)
      if last is None:
        no_history = self._no_history_row() if no_history is None else no_history
        cat_probs = no_history
      else:
        cat_probs = self.transition_row(self.item_category[last])
      rows.append(cat_probs[self.item_category] * self.within)
    return np.stack(rows) if rows else np.zeros((0, len(self.item_ids)))

  def predict(self, histories: Sequence[Sequence[str]], top_k: int = 10,
              chunk: int = 1024) -> np.ndarray:
    """[U, top_k] catalog indices, most probable first (ties: catalog order).

    Scores `chunk` users at a time, so memory stays [chunk, num_items] for any number of users.
    """
    k = min(top_k, len(self.item_ids))
    out = np.zeros((len(histories), k), np.int64)
    for start in range(0, len(histories), chunk):
      scores = self.scores(histories[start:start + chunk])
      out[start:start + len(scores)] = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return out
