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
    self.transitions = np.zeros((len(names), len(names)), np.float64)  # P(c' | c) once fit.
    self.within = np.zeros(len(self.item_ids), np.float64)  # P(i | cat(i)) once fit.

  def fit(self, sequences: Mapping[str, Sequence[str]]) -> "CategoryMarkov":
    """Counts item occurrences and consecutive category pairs; unknown ids are skipped."""
    num_cats = len(self.category_names)
    pairs = np.zeros((num_cats, num_cats), np.float64)
    counts = np.zeros(len(self.item_ids), np.float64)
    for items in sequences.values():
      known = [self._index[i] for i in items if i in self._index]
      np.add.at(counts, known, 1.0)
      cats = self.item_category[known]
      np.add.at(pairs, (cats[:-1], cats[1:]), 1.0)
    cat_counts = np.bincount(self.item_category, weights=counts, minlength=num_cats)
    marginal = (cat_counts + 1.0) / (cat_counts.sum() + num_cats)
    self.transitions = ((pairs + self.alpha * marginal[None, :])
                        / (pairs.sum(axis=1, keepdims=True) + self.alpha))
    cat_sizes = np.bincount(self.item_category, minlength=num_cats)
    self.within = (counts + 1.0) / (cat_counts + cat_sizes)[self.item_category]
    return self

  def scores(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
    """[U, num_items] next-item probabilities; an empty or unknown history gets the marginal."""
    marginal = self.transitions.mean(axis=0)
    rows = []
    for history in histories:
      last = next((self._index[i] for i in reversed(history) if i in self._index), None)
      cat_probs = marginal if last is None else self.transitions[self.item_category[last]]
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
