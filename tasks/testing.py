"""Tiny synthetic dataset directories (items, splits, enrich, sids.json) for tests and examples."""

from __future__ import annotations

import os
import random
from typing import Optional, Sequence

from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import schema
from gr_jax.data import sids as sids_lib

_ADJ = ["red", "blue", "compact", "digital", "heavy", "ceramic", "wireless", "steel", "glass", "mini"]
_NOUN = ["microscope", "beaker", "scale", "caliper", "thermometer", "pipette", "lamp", "drill",
         "magnifier", "timer", "funnel", "clamp"]


def leave_one_out(user: str, items: Sequence[str], max_history: int = layout.MAX_HISTORY):
  """(train, valid, test) Examples of one sequence, as `gr-jax prepare` writes them."""
  train = [schema.Example(user, list(items[:t][-max_history:]), items[t])
           for t in range(1, len(items) - 2)]
  valid = schema.Example(user, list(items[:-2][-max_history:]), items[-2])
  test = schema.Example(user, list(items[:-1][-max_history:]), items[-1])
  return train, valid, test


def write_splits(data_dir: str, sequences: dict[str, list[str]], max_history: int = layout.MAX_HISTORY) -> None:
  """Writes sequences.jsonl and splits/{train,valid,test}.jsonl by leave-one-out."""
  schema.write_sequences(data_dir, sequences.items())
  train, valid, test = [], [], []
  for user, items in sequences.items():
    tr, va, te = leave_one_out(user, items, max_history)
    train += tr
    valid.append(va)
    test.append(te)
  schema.write_split(data_dir, "train", train)
  schema.write_split(data_dir, "valid", valid)
  schema.write_split(data_dir, "test", test)


def digit_sids(item_ids: Sequence[str], prefixes: Sequence[str], base: int,
               permute_seed: Optional[int] = None) -> dict:
  """One sids.json modality: item n gets the base-`base` digits of n (optionally permuted)."""
  order = list(range(len(item_ids)))
  if permute_seed is not None:
    random.Random(permute_seed).shuffle(order)
  levels = len(prefixes)
  if base ** levels < len(item_ids):
    raise ValueError(f"{base}^{levels} codes cannot give {len(item_ids)} items unique SIDs")
  table = {}
  for item_id, n in zip(item_ids, order):
    digits = [(n // base ** (levels - 1 - l)) % base for l in range(levels)]
    table[item_id] = [sids_lib.token(p, d) for p, d in zip(prefixes, digits)]
  return {"prefixes": list(prefixes), "codebook_sizes": [base] * levels, "sids": table}


def write_sids(data_dir: str, run: str, modalities: dict) -> str:
  """Writes `DIR/tokenizer/<run>/sids.json`; returns its path."""
  path = layout.sids_path(data_dir, run)
  sids_lib.write_sids(path, run, modalities)
  return path


def write_all_sids(data_dir: str, item_ids: Sequence[str]) -> None:
  """sids.json for the default runs: trialign (fused), macrec (text + image), tiger (text)."""
  base = 2
  while base ** 3 < len(item_ids):
    base += 1
  write_sids(data_dir, "trialign", {"fused": digit_sids(item_ids, "abc", base)})
  write_sids(data_dir, "tiger", {"text": digit_sids(item_ids, "abc", base, permute_seed=1)})
  write_sids(data_dir, "macrec", {"text": digit_sids(item_ids, "abcd", base, permute_seed=2),
                                  "image": digit_sids(item_ids, "ABCD", base, permute_seed=3)})


def make_dataset(data_dir: str, n_users: int = 12, n_shared_items: int = 16,
                 seq_len: tuple[int, int] = (5, 9), caption_items: Optional[int] = None,
                 interest_items: Optional[int] = None, seed: int = 0) -> dict[str, list[str]]:
  """Writes a complete tiny dataset; returns {user: items}.

  Histories draw from `n_shared_items`; every user's last two items are unique to
  that user (so leakage of validation/test targets is detectable). The first
  `caption_items` / `interest_items` items get captions / interest tags (all by default).
  """
  rng = random.Random(seed)
  n_items = n_shared_items + 2 * n_users
  items = []
  for n in range(n_items):
    adj, noun = _ADJ[n % len(_ADJ)], _NOUN[(n * 7) % len(_NOUN)]
    items.append(schema.Item(
        item_id=f"i{n:03d}", title=f"{adj.title()} {noun} model {n}",
        description=f"A {adj} {noun} for the lab. Size {n % 5 + 1}.",
        brand=f"Brand{n % 4}", categories=["Science", noun]))
  schema.write_items(data_dir, items)
  sequences = {}
  for u in range(n_users):
    length = rng.randint(*seq_len)
    history = [f"i{rng.randrange(n_shared_items):03d}" for _ in range(length - 2)]
    tail = [f"i{n_shared_items + 2 * u:03d}", f"i{n_shared_items + 2 * u + 1:03d}"]
    sequences[f"u{u:03d}"] = history + tail
  write_splits(data_dir, sequences)
  caption_items = n_items if caption_items is None else caption_items
  interest_items = n_items if interest_items is None else interest_items
  io_utils.atomic_write_jsonl(layout.enrich_path(data_dir, layout.CAPTIONS), [
      {"item_id": it.item_id, "caption": f"A photo of a {it.title.lower()} on a white table.",
       "status": "ok", "backend": "fixture"} for it in items[:caption_items]
  ] + [{"item_id": it.item_id, "caption": "", "status": "failed", "backend": "fixture"}
       for it in items[caption_items:caption_items + 1]])
  io_utils.atomic_write_jsonl(layout.enrich_path(data_dir, layout.INTERESTS), [
      {"item_id": it.item_id, "interests": [f"{it.categories[1]} work", "home science"],
       "status": "ok", "backend": "fixture"} for it in items[:interest_items]])
  write_all_sids(data_dir, [it.item_id for it in items])
  mark_prepared(data_dir)
  return sequences


def make_copy_dataset(data_dir: str) -> dict[str, list[str]]:
  """`make_dataset` (10 users) where even users' test target repeats their last history item."""
  seqs = make_dataset(data_dir, n_users=10, seq_len=(5, 7))
  for n, user in enumerate(sorted(seqs)):
    if n % 2 == 0:
      seqs[user][-1] = seqs[user][-2]
  write_splits(data_dir, seqs)
  return seqs


def mark_prepared(data_dir: str) -> None:
  """Writes the `gr-jax prepare` done-marker that later stages require (for fixture dirs)."""
  io_utils.atomic_write_json(os.path.join(data_dir, layout.PREPARE_DONE),
                             {"arguments": {"source": "test fixture"}})
