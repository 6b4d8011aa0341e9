"""Caption-noise ablation: replace a fraction of captions with other items' captions."""

from __future__ import annotations

import random


def noisy_ids(item_ids: list[str], p: float, seed: int) -> list[str]:
  """The sorted ids whose caption is replaced: round(p * n) of them, chosen by `seed`."""
  if not 0.0 <= p <= 1.0:
    raise ValueError(f"caption noise must be in [0, 1], got {p}")
  ids = sorted(item_ids)
  k = int(round(p * len(ids)))
  if len(ids) < 2 or k == 0:
    return []
  return sorted(random.Random(seed).sample(ids, k))


def swap_captions(captions: dict[str, str], p: float, seed: int) -> dict[str, str]:
  """Returns a copy where round(p * n) items carry another item's caption.

  The chosen items are shuffled and each takes the caption of the next one in
  the shuffled cycle, so every chosen item gets a caption from a different
  item (a lone chosen item takes one from a random unchosen item).
  """
  chosen = noisy_ids(list(captions), p, seed)
  out = dict(captions)
  if not chosen:
    return out
  rng = random.Random(seed + 1)
  if len(chosen) == 1:
    donors = [i for i in sorted(captions) if i != chosen[0]]
    out[chosen[0]] = captions[rng.choice(donors)]
    return out
  cycle = list(chosen)
  rng.shuffle(cycle)
  for i, item_id in enumerate(cycle):
    out[item_id] = captions[cycle[(i + 1) % len(cycle)]]
  return out
