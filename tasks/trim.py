"""Keeps the most recent items when a compact history input is longer than the input length.

seqio's `append_eos_after_trim` keeps the *first* `length - 1` tokens, which for a history drops
the most recent items, the ones that matter most. Compact history inputs (SID tokens oldest
first, then an optional marker; `gr_jax_tasks.prompts.format_compact_history`) are instead
trimmed from the left, at an item boundary: the kept window starts at the first first-level SID
token inside the last `length - 1` tokens. Training (the seqio preprocessor) and inference
(`keep_recent_ids`, used by `gr_jax.recommend`) apply the same rule.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import seqio
import tensorflow as tf


def item_start_ranges(vocab) -> list[tuple[int, int]]:
  """[start, end) id ranges of first-level SID tokens, one per modality of `vocab`."""
  return [tuple(vocab.sid_level_ids(mod, 0)) for mod in vocab.modalities]


def keep_recent_ids(ids: Sequence[int], max_tokens: int,
                    starts: Sequence[tuple[int, int]]) -> list[int]:
  """The last `max_tokens` ids of `ids`, beginning at an item start when it had to cut."""
  ids = [int(i) for i in ids]
  if len(ids) <= max_tokens:
    return ids
  kept = ids[len(ids) - max_tokens:]
  for n, token in enumerate(kept):
    if any(lo <= token < hi for lo, hi in starts):
      return kept[n:]
  return kept


@seqio.map_over_dataset
def _trim_example(ex: Mapping[str, tf.Tensor], max_tokens: int, starts: tf.Tensor) -> dict:
  ids = ex["inputs"]
  n = tf.shape(ids)[0]
  kept = ids[tf.maximum(n - max_tokens, 0):]
  is_start = tf.reduce_any((kept[:, None] >= starts[None, :, 0]) & (kept[:, None] < starts[None, :, 1]),
                           axis=1)
  first = tf.cond(tf.logical_and(n > max_tokens, tf.reduce_any(is_start)),
                  lambda: tf.cast(tf.argmax(tf.cast(is_start, tf.int32)), tf.int32),
                  lambda: tf.constant(0, tf.int32))
  out = dict(ex)
  out["inputs"] = kept[first:]
  return out


def trim_inputs_keep_recent(dataset: tf.data.Dataset, sequence_length: Optional[Mapping[str, int]],
                            output_features: Mapping[str, seqio.Feature]) -> tf.data.Dataset:
  """seqio preprocessor (after `tokenize`, before `append_eos_after_trim`): compact history
  inputs keep their most recent items within `sequence_length["inputs"] - 1` tokens."""
  if not sequence_length or not sequence_length.get("inputs"):
    return dataset
  vocab = output_features["inputs"].vocabulary
  starts = tf.constant(np.asarray(item_start_ranges(vocab), np.int32).reshape(-1, 2))
  return _trim_example(dataset, max_tokens=int(sequence_length["inputs"]) - 1, starts=starts)
