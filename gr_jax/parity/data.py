"""Parity inputs from a RecBole/UniSRec dataset folder (e.g. ../shared/data/Scientific).

Item vectors are LSA (hashed TF-IDF of the item text, randomized SVD): a cheap,
deterministic stand-in for the embed stage (parity is about the two stacks, not
the vectors; `benchmarks/parity.py --embeddings` takes real ones). Seqrec
examples follow TIGER's task: the SID tokens of the last `max_history` items,
eos -> the next item's SID, eos; leave-one-out (last item test, second-to-last
validation, every earlier position a training target).
"""

from __future__ import annotations

import dataclasses
import os
import re
import zlib
from typing import Iterator, Optional

import numpy as np

from gr_jax import io_utils
from gr_jax.data import layout

PAD, EOS = 0, 1
FIRST_SID_ID = 3  # 0 pad, 1 eos, 2 unk, then the SID tokens level by level.


@dataclasses.dataclass
class Dataset:
  name: str
  texts: list[str]  # Item text, row = item index.
  sequences: list[list[int]]  # Item indices in time order, one list per user.


def _read_tsv(path: str, header: bool) -> Iterator[tuple[int, list[str]]]:
  with open(path, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
      if header and n == 1:
        continue
      line = line.rstrip("\n")
      if line:
        yield n, line.split("\t")


def load_dataset(data_dir: str, name: Optional[str] = None, max_users: Optional[int] = None
                 ) -> Dataset:
  """Reads `<name>.item2index`, `<name>.text` and `<name>.inter.json` of `data_dir`."""
  name = name or os.path.basename(os.path.normpath(data_dir))
  path = os.path.join(data_dir, f"{name}.item2index")
  index = {}
  for n, row in _read_tsv(path, header=False):
    if len(row) != 2 or not row[1].isdigit():
      raise ValueError(f"{path}:{n}: expected 'asin<TAB>index', got {row!r}")
    index[row[0]] = int(row[1])
  texts = [""] * len(index)
  path = os.path.join(data_dir, f"{name}.text")
  for n, row in _read_tsv(path, header=True):
    if len(row) < 2:
      raise ValueError(f"{path}:{n}: expected 'item_id<TAB>text'")
    if row[0] in index:
      texts[index[row[0]]] = row[1]
  path = os.path.join(data_dir, f"{name}.inter.json")
  raw = io_utils.read_json(path)
  if not isinstance(raw, dict):
    raise ValueError(f"{path}: expected an object of user -> item indices")
  users = sorted(raw, key=int)[:max_users]
  sequences = []
  for u in users:
    seq = raw[u]
    if not isinstance(seq, list) or not all(isinstance(i, int) and 0 <= i < len(texts)
                                            for i in seq):
      raise ValueError(f"{path}: user {u}: item indices must be ints in [0, {len(texts)})")
    sequences.append(seq)
  return Dataset(name, texts, sequences)


def lsa_vectors(texts: list[str], dim: int = 64, buckets: int = 4096, seed: int = 0
                ) -> np.ndarray:
  """[N, dim] float32 unit rows: TF-IDF over hashed words, top-`dim` randomized SVD."""
  n = len(texts)
  counts = np.zeros((n, buckets), np.float32)
  for i, text in enumerate(texts):
    for word in re.findall(r"[a-z0-9]+", text.lower()):
      counts[i, zlib.crc32(word.encode()) % buckets] += 1.0
  df = np.count_nonzero(counts, axis=0)
  idf = np.log((1.0 + n) / (1.0 + df) + 1.0).astype(np.float32)
  tfidf = np.log1p(counts) * idf[None, :]
  tfidf /= np.maximum(np.linalg.norm(tfidf, axis=1, keepdims=True), 1e-12)
  rng = np.random.default_rng(seed)
  q = tfidf @ rng.standard_normal((buckets, dim + 16)).astype(np.float32)
  for _ in range(1):  # Power iteration.
    q, _ = np.linalg.qr(q)
    q = tfidf @ (tfidf.T @ q)
  q, _ = np.linalg.qr(q)
  u, s, _ = np.linalg.svd(q.T @ tfidf, full_matrices=False)
  x = (q @ u[:, :dim]) * s[None, :dim]
  x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
  return x.astype(np.float32)


def sid_token_ids(codes_NxL: np.ndarray, level_sizes) -> np.ndarray:
  """[N, L] vocabulary ids of each item's SID: level l code c -> FIRST_SID_ID + offset_l + c."""
  offsets = FIRST_SID_ID + np.concatenate([[0], np.cumsum(level_sizes)[:-1]]).astype(np.int64)
  return (np.asarray(codes_NxL, np.int64) + offsets[None, :]).astype(np.int32)


def vocab_size(level_sizes, multiple: int = 128) -> int:
  n = FIRST_SID_ID + int(np.sum(level_sizes))
  return -(-n // multiple) * multiple


@dataclasses.dataclass
class Examples:
  """Tokenized seqrec examples (0-padded, fixed lengths)."""
  inputs: np.ndarray  # [E, max_history * L + 1] int32
  targets: np.ndarray  # [E, L + 1] int32
  target_items: np.ndarray  # [E] int32

  def __len__(self):
    return self.inputs.shape[0]

  def batch(self, rows) -> dict:
    """A `seqio.EncDecFeatureConverter`-style batch of the given rows."""
    tgt = self.targets[rows]
    dec = np.concatenate([np.zeros((tgt.shape[0], 1), np.int32), tgt[:, :-1]], 1)
    return {"encoder_input_tokens": self.inputs[rows], "decoder_input_tokens": dec,
            "decoder_target_tokens": tgt, "decoder_loss_weights": (tgt > 0).astype(np.int32)}


def seqrec_examples(dataset: Dataset, sids_NxL: np.ndarray, split: str,
                    max_history: int = layout.MAX_HISTORY) -> Examples:
  """Leave-one-out examples of `split` ('train', 'validation' or 'test')."""
  length = sids_NxL.shape[1]
  inputs, targets, items = [], [], []
  for seq in dataset.sequences:
    n = len(seq)
    if n < 3:
      continue
    positions = {"train": range(1, n - 2), "validation": [n - 2], "test": [n - 1]}[split]
    for t in positions:
      hist = seq[max(0, t - max_history):t]
      ids = np.concatenate([sids_NxL[hist].reshape(-1), [EOS]])
      row = np.zeros(max_history * length + 1, np.int32)
      row[:ids.size] = ids
      inputs.append(row)
      targets.append(np.concatenate([sids_NxL[seq[t]], [EOS]]).astype(np.int32))
      items.append(seq[t])
  return Examples(np.stack(inputs), np.stack(targets), np.asarray(items, np.int32))


def batch_order(num_examples: int, batch_size: int, steps: int, seed: int) -> list[np.ndarray]:
  """Row indices of each step: epoch-wise permutations of (seed, epoch), remainder dropped."""
  per_epoch = max(num_examples // batch_size, 1)
  out = []
  for step in range(steps):
    epoch, i = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(num_examples)
    out.append(perm[i * batch_size:(i + 1) * batch_size])
  return out
