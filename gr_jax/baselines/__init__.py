"""Classical baselines (most-popular, SASRec) trained on the same leave-one-out split."""

from __future__ import annotations

from gr_jax.data import schema


def train_sequences(data_dir: str) -> dict[str, list[str]]:
  """{user: chronological training items} rebuilt from `splits/train.jsonl`.

  Train examples of a user are every prefix of items[:-2] in file order, so the
  sequence is the first example's history followed by every example's target.
  """
  seqs: dict[str, list[str]] = {}
  for ex in schema.read_split(data_dir, "train"):
    if ex.user_id not in seqs:
      seqs[ex.user_id] = list(ex.history)
    seqs[ex.user_id].append(ex.target)
  return seqs
