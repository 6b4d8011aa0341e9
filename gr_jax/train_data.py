"""Training data for gr_jax.train: seqio mixtures -> static-shape numpy batches; MACRec SID pairs."""

from __future__ import annotations

import logging
from typing import Iterator, Mapping, Optional, Sequence

import jax
import numpy as np
import seqio

from gr_jax import io_utils
from gr_jax.data import sids

Batch = dict[str, np.ndarray]


def padded_vocab_size(vocabulary: seqio.Vocabulary, multiple: int = 128) -> int:
  """Vocabulary size rounded up to a multiple of `multiple` (TPU/GPU-friendly, as T5X does)."""
  return -(-int(vocabulary.vocab_size) // multiple) * multiple


def output_vocabulary(mixture_or_task_name: str) -> seqio.Vocabulary:
  """The 'targets' vocabulary of a registered seqio mixture or task."""
  return seqio.get_mixture_or_task(mixture_or_task_name).output_features["targets"].vocabulary


def task_names(mixture_or_task_name: str) -> list[str]:
  """The tasks of a mixture (or the task itself)."""
  provider = seqio.get_mixture_or_task(mixture_or_task_name)
  return sorted(t.name for t in provider.tasks) if isinstance(provider, seqio.Mixture) \
      else [provider.name]


def _shard_info(shard: Optional[tuple[int, int]]) -> Optional[seqio.ShardInfo]:
  """seqio's shard of the data: `shard` = (index, count), default (process index, process count)."""
  index, count = shard or (jax.process_index(), jax.process_count())
  return seqio.ShardInfo(index=index, num_shards=count) if count > 1 else None


def train_batches(mixture_or_task_name: str, task_feature_lengths: Mapping[str, int],
                  local_batch_size: int, seed: int, shuffle: bool = True, pack: bool = False,
                  start_step: int = 0,
                  shard: Optional[tuple[int, int]] = None) -> Iterator[Batch]:
  """Endless deterministic train batches (this process's rows) via `EncDecFeatureConverter`.

  The order depends only on `seed`: resuming at `start_step` yields exactly
  the batches an uninterrupted run would have seen from that step on.
  `shard`: (index, count) of this process's slice (`Partitioner.data_shard()`).
  """
  provider = seqio.get_mixture_or_task(mixture_or_task_name)
  ds = provider.get_dataset(sequence_length=dict(task_feature_lengths), split="train",
                            shuffle=shuffle, seed=seed, num_epochs=None,
                            shard_info=_shard_info(shard), use_cached=False)
  ds = seqio.EncDecFeatureConverter(pack=pack)(ds, dict(task_feature_lengths))
  ds = ds.batch(local_batch_size, drop_remainder=True)
  if start_step:
    ds = ds.skip(start_step)
  return ds.prefetch(2).as_numpy_iterator()


def _pad_batch(batch: Batch, rows: int) -> Batch:
  """Zero rows (weight 0) appended so every batch has `rows` rows."""
  out = {}
  for k, v in batch.items():
    pad = np.zeros((rows - v.shape[0],) + v.shape[1:], v.dtype)
    out[k] = np.concatenate([v, pad]) if len(pad) else v
  return out


def _empty_batch(task_feature_lengths: Mapping[str, int], rows: int) -> Batch:
  enc = np.zeros((rows, task_feature_lengths["inputs"]), np.int32)
  dec = np.zeros((rows, task_feature_lengths["targets"]), np.int32)
  return {"encoder_input_tokens": enc, "decoder_input_tokens": dec,
          "decoder_target_tokens": dec.copy(), "decoder_loss_weights": dec.copy()}


def eval_batches(task_name: str, task_feature_lengths: Mapping[str, int], local_batch_size: int,
                 max_batches: Optional[int] = None, split: str = "validation",
                 shard: Optional[tuple[int, int]] = None) -> list[Batch]:
  """The first `max_batches` padded batches of a task's split (empty if it has no such split).

  Every process returns the same number of batches (padding with all-zero
  batches), so a sharded eval step never waits on a process that ran out.
  """
  task = seqio.get_mixture_or_task(task_name)
  if split not in task.splits:
    return []
  ds = task.get_dataset(sequence_length=dict(task_feature_lengths), split=split, shuffle=False,
                        num_epochs=1, shard_info=_shard_info(shard), use_cached=False)
  ds = seqio.EncDecFeatureConverter(pack=False)(ds, dict(task_feature_lengths))
  ds = ds.batch(local_batch_size, drop_remainder=False)
  if max_batches:
    ds = ds.take(max_batches)
  batches = [_pad_batch(b, local_batch_size) for b in ds.as_numpy_iterator()]
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    n = int(np.max(multihost_utils.process_allgather(np.asarray(len(batches)))))
    empty = _empty_batch(task_feature_lengths, local_batch_size)
    batches += [empty] * (n - len(batches))
  return batches


class AlignmentPairs:
  """Text-SID and image-SID token ids (+ eos, 0-padded) of every item that has both.

  Feeds the MACRec implicit alignment loss: each train step draws a fixed
  number of distinct items with a seed derived from (seed, step).
  """

  def __init__(self, item_ids: Sequence[str], text_NxS: np.ndarray, image_NxS: np.ndarray):
    if len(item_ids) < 2:
      raise ValueError(f"the alignment loss needs at least 2 items with both SIDs, got {len(item_ids)}")
    self.item_ids = list(item_ids)
    self.text_NxS = np.asarray(text_NxS, np.int32)
    self.image_NxS = np.asarray(image_NxS, np.int32)

  def __len__(self) -> int:
    return len(self.item_ids)

  @classmethod
  def from_sids_file(cls, path: str, vocabulary: seqio.Vocabulary,
                     modalities: Sequence[str] = ("text", "image")) -> "AlignmentPairs":
    """Reads `tokenizer/<run>/sids.json` and tokenizes each item's two SIDs with `vocabulary`."""
    strings = sids.read_sid_strings(path)
    tables = []
    for mod in modalities:
      if mod not in strings:
        raise io_utils.BadInputError(path, None, f"modalities.{mod}.sids",
                                     f"the alignment loss needs '{mod}' SIDs; found {sorted(strings)}")
      tables.append(strings[mod])
    items = sorted(set(tables[0]) & set(tables[1]))
    eos = int(vocabulary.eos_id)

    def ids(sid, mod):
      tokens = sid if isinstance(sid, str) else "".join(sid)
      if hasattr(vocabulary, "sid_token_ids"):
        out = list(vocabulary.sid_token_ids(tokens))
      else:
        out = list(vocabulary.encode(tokens))
      if not out:
        raise io_utils.BadInputError(path, None, f"modalities.{mod}.sids", f"empty SID {sid!r}")
      return out + [eos]

    seqs = [[ids(t[i], m) for i in items] for t, m in zip(tables, modalities)]
    width = max(len(s) for table in seqs for s in table)
    arrays = []
    for table in seqs:
      arr = np.zeros((len(items), width), np.int32)
      for n, s in enumerate(table):
        arr[n, :len(s)] = s
      arrays.append(arr)
    logging.info("alignment pairs: %d items from %s", len(items), path)
    return cls(items, arrays[0], arrays[1])

  def sample(self, step: int, n: int, seed: int = 0) -> Batch:
    """n distinct items for `step` (same on every process) as align_{text,image}_tokens [n, S]."""
    rng = np.random.default_rng([seed, step, 7])
    idx = rng.choice(len(self), size=n, replace=False)
    return {"align_text_tokens": self.text_NxS[idx], "align_image_tokens": self.image_NxS[idx]}
