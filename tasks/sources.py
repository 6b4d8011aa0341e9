"""Dataset files -> in-memory task examples (lists of string dicts) and their seqio DataSource."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import random
from typing import Callable, Iterable, Mapping, Optional, Sequence

import seqio
import tensorflow as tf

from gr_jax import text_vocab as vocab_lib
from gr_jax.data import layout
from gr_jax.data import schema
from gr_jax.data import sids as sids_lib
from gr_jax_tasks import prompts

SPLITS = ("train", "validation", "test")
# Every task emits exactly these string features (seqio mixtures need one structure).
FEATURE_KEYS = ("inputs", "targets", "task", "user_id", "target_item_id")
METADATA_KEYS = FEATURE_KEYS[2:]
DEFAULT_ITEM_EVAL_SIZE = 500


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
  """How one dataset directory becomes tasks (hashable: it keys the example caches)."""
  name: str
  data_dir: str
  method: str
  tokenizer_run: str
  drop_tasks: tuple[str, ...] = ()
  caption_noise: float = 0.0  # Fraction of captions swapped with another item's (train only).
  prompt_variants: bool = True  # Sample among phrasings in train (eval always uses variant 0).
  seed: int = 0
  max_history: int = layout.MAX_HISTORY
  item_eval_size: int = DEFAULT_ITEM_EVAL_SIZE  # Items in item-level validation/test splits.
  # History tasks read SID tokens alone (no prompt text), trimmed from the left (keep recent).
  compact_history: bool = False


@dataclasses.dataclass(eq=False)  # Hashed by identity: functools.cache keys on it.
class DatasetView:
  """Everything the tasks read from one dataset directory."""
  data_dir: str
  items: dict[str, schema.Item]
  captions: dict[str, str]
  interests: dict[str, list[str]]
  sids: dict[str, dict[str, str]]  # modality -> item_id -> "<a_1><b_2><c_3>"

  def sid(self, modality: str, item_id: str) -> Optional[str]:
    return self.sids[modality].get(item_id)

  @functools.cache  # pylint: disable=method-cache-max-size-none
  def split(self, split: str) -> list[schema.Example]:
    return list(schema.read_split(self.data_dir, split))

  @functools.cache  # pylint: disable=method-cache-max-size-none
  def noisy_captions(self, fraction: float, seed: int) -> dict[str, str]:
    """Captions where a `fraction` of items carry another item's caption (deterministic by seed)."""
    if fraction <= 0 or len(self.captions) < 2:
      return self.captions
    ids = sorted(self.captions)
    rng = random.Random(f"caption_noise|{seed}")
    chosen = rng.sample(ids, max(1, round(fraction * len(ids))))
    out = dict(self.captions)
    if len(chosen) == 1:
      donor = rng.choice([i for i in ids if self.captions[i] != self.captions[chosen[0]]] or ids)
      out[chosen[0]] = self.captions[donor]
    else:  # Rotate captions among the chosen items: none keeps its own.
      for a, b in zip(chosen, chosen[1:] + chosen[:1]):
        out[a] = self.captions[b]
    return out


def pick_modality(view: DatasetView, preferred: str) -> str:
  """`preferred` if the sids.json has it, else its only modality."""
  if preferred in view.sids:
    return preferred
  if len(view.sids) == 1:
    return next(iter(view.sids))
  raise KeyError(f"{view.data_dir}: sids.json has modalities {sorted(view.sids)}, none is {preferred!r}")


def _stamp(paths: Iterable[str]) -> tuple:
  return tuple((p, os.stat(p).st_mtime_ns, os.stat(p).st_size) if os.path.exists(p) else (p,)
               for p in paths)


def load_view(data_dir: str, tokenizer_run: str) -> DatasetView:
  """Loads (and caches until the files change) the dataset files the tasks need."""
  data_dir = os.path.abspath(data_dir)
  files = [os.path.join(data_dir, layout.ITEMS), layout.sids_path(data_dir, tokenizer_run),
           layout.enrich_path(data_dir, layout.CAPTIONS),
           layout.enrich_path(data_dir, layout.INTERESTS),
           layout.enrich_path(data_dir, layout.ENRICH_VIEW)]
  files += [schema.split_path(data_dir, s) for s in layout.SPLIT_NAMES]
  return _load_view(data_dir, tokenizer_run, _stamp(files))


@functools.lru_cache(maxsize=8)
def _load_view(data_dir: str, tokenizer_run: str, stamp: tuple) -> DatasetView:
  del stamp  # Only part of the cache key.
  path = layout.sids_path(data_dir, tokenizer_run)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: no semantic IDs; run `gr-jax tokenize` (run {tokenizer_run!r}) first")
  captions, interests = vocab_lib.read_enrich(data_dir)
  return DatasetView(data_dir=data_dir, items=schema.load_items(data_dir), captions=captions,
                     interests=interests, sids=sids_lib.read_sid_strings(path))


def _record(task: str, inputs: str, targets: str, user_id: str = "", target_item_id: str = "") -> dict:
  return {"inputs": inputs, "targets": targets, "task": task, "user_id": user_id,
          "target_item_id": target_item_id}


def _variant(cfg: DatasetConfig, split: str, task: str, key: str) -> int:
  if split != "train" or not cfg.prompt_variants:
    return 0
  return prompts.choose_variant(task, key, cfg.seed)


def seqrec_examples(view: DatasetView, cfg: DatasetConfig, task: str, split: str,
                    history_modality: str, target_fn: Callable[[str], Optional[str]]) -> list[dict]:
  """History (SIDs of `history_modality`, last `max_history`) -> target_fn(next item)."""
  out = []
  for ex in view.split("valid" if split == "validation" else split):
    history = [view.sid(history_modality, i) for i in ex.history[-cfg.max_history:]]
    history = [h for h in history if h]
    target = target_fn(ex.target)
    if not history or not target:
      continue
    if cfg.compact_history:
      inputs = prompts.format_compact_history(task, history)
    else:
      variant = _variant(cfg, split, task, f"{ex.user_id}|{len(ex.history)}|{ex.target}")
      inputs = prompts.format_input(task, {"history_sids": history}, variant)
    out.append(_record(task, inputs, target, ex.user_id, ex.target))
  return out


def item_examples(view: DatasetView, cfg: DatasetConfig, task: str, split: str,
                  make: Callable[[schema.Item], Optional[tuple[Mapping, str]]]) -> list[dict]:
  """One example per catalog item (train); a seeded sample of them for validation/test."""
  items = list(view.items.values())
  if split != "train" and len(items) > cfg.item_eval_size:
    rng = random.Random(f"item_eval|{cfg.seed}|{task}")
    keep = set(rng.sample(range(len(items)), cfg.item_eval_size))
    items = [it for n, it in enumerate(items) if n in keep]
  out = []
  for item in items:
    made = make(item)
    if made is None:
      continue
    fields, target = made
    if not target:
      continue
    inputs = prompts.format_input(task, fields, _variant(cfg, split, task, item.item_id))
    out.append(_record(task, inputs, target, "", item.item_id))
  return out


class ExamplesSource(seqio.DataSource):
  """seqio DataSource over examples built in Python by `build_fn(split)`.

  `num_input_examples` stays None on purpose: seqio would otherwise cache small
  splits in memory after our per-epoch shuffle and replay one order forever.
  Use `num_examples(split)` for sizes.
  """

  def __init__(self, build_fn: Callable[[str], list[dict]], splits: Sequence[str] = SPLITS):
    super().__init__(splits=splits, caching_permitted=True)
    self._build_fn = build_fn

  @property
  def supports_arbitrary_sharding(self) -> bool:
    return True  # Sharded by example index before shuffling: hosts never overlap.

  def list_shards(self, split: str) -> Sequence[str]:
    return [split]

  def num_examples(self, split: str) -> int:
    return len(self._build_fn(split))

  def get_dataset(self, split: str = "train", shuffle: bool = True, seed: Optional[int] = None,
                  shard_info: Optional[seqio.ShardInfo] = None, *, sequence_length=None,
                  use_cached: bool = False, num_epochs: Optional[int] = 1) -> tf.data.Dataset:
    del sequence_length, use_cached, num_epochs
    records = self._build_fn(split)
    if shard_info and shard_info.num_shards > 1:
      records = records[shard_info.index::shard_info.num_shards]
    columns = {k: tf.constant([r[k] for r in records], dtype=tf.string, shape=[len(records)])
               for k in FEATURE_KEYS}
    ds = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle and records:
      ds = ds.shuffle(len(records), seed=seed, reshuffle_each_iteration=True)
    return ds


def log_sizes(cfg: DatasetConfig, sizes: Mapping[str, int]) -> None:
  logging.info("%s/%s task sizes (train): %s", cfg.method, cfg.name, dict(sizes))
