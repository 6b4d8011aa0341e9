"""Gin hooks for `python -m t5x.train --gin_file=gin/<method>.gin`: data, vocabulary, SID trie.

T5X evaluates gin references after all files are parsed, so these functions
register DATA_DIR's SeqIO tasks (`gr_jax_tasks.register_dataset`) on first use
and hand T5X what it needs:

    t5x_gin.Dataset.data_dir = %DATA_DIR
    MIXTURE_OR_TASK_NAME = @t5x_gin.mixture_name()
    VOCABULARY = @t5x_gin.vocabulary()
    t5.T5Config.vocab_size = @t5x_gin.vocab_size()
    decoding.t5x_constrained_beam_search.trie = @t5x_gin.sid_trie()

Every function takes the gin-configured `Dataset()` unless given one; results
are cached per dataset. Nothing here imports T5X. Importing this module (the gin
files do) also imports `gr_jax_tasks`, whose gin configurables must exist before
T5X locks the config.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Optional, Sequence

import gin
import numpy as np
import seqio

from gr_jax import decoding
from gr_jax import evaluate
from gr_jax import recommend
from gr_jax import text_vocab as vocab_lib
from gr_jax import train_data
from gr_jax.data import layout
import gr_jax_tasks


@gin.configurable(module="gr_jax.t5x_gin")
@dataclasses.dataclass(frozen=True)
class Dataset:
  """A dataset directory and the method whose tasks T5X trains on."""
  data_dir: Optional[str] = None
  method: str = "trialign"
  name: Optional[str] = None  # Default: the basename of data_dir.
  tokenizer_run: Optional[str] = None  # Default: the method's name.
  compact_history: bool = False  # History tasks read SID tokens alone (gr_jax_tasks.trim).

  def resolved(self) -> "Dataset":
    """With an absolute data_dir and every default filled in."""
    if not self.data_dir:
      raise ValueError("no dataset directory: set DATA_DIR (--gin.DATA_DIR=\"'/path'\")")
    data_dir = os.path.abspath(self.data_dir)
    return Dataset(data_dir, self.method, self.name or os.path.basename(data_dir.rstrip("/")),
                   self.tokenizer_run or self.method, bool(self.compact_history))


def _resolve(dataset: Optional[Dataset]) -> Dataset:
  return (dataset or Dataset()).resolved()


@functools.lru_cache(maxsize=None)
def _register(ds: Dataset) -> str:
  # The seqrec tasks' seqio metric ranks every decoded beam (HR@K / NDCG@K, as `gr-jax evaluate`).
  return gr_jax_tasks.register_dataset(ds.name, ds.data_dir, ds.method,
                                       tokenizer_run=ds.tokenizer_run,
                                       compact_history=ds.compact_history,
                                       seqrec_metric_fns=[evaluate.sid_beam_metrics])


@gin.configurable(module="gr_jax.t5x_gin")
def mixture_name(dataset: Optional[Dataset] = None) -> str:
  """Registers the dataset's tasks (seqrec ones scored by `evaluate.sid_beam_metrics`) and
  uniform mixture; returns `<method>_<name>`."""
  return _register(_resolve(dataset))


@gin.configurable(module="gr_jax.t5x_gin")
def seqrec_name(dataset: Optional[Dataset] = None) -> str:
  """The next-item SID task(s), the set to evaluate with trie decoding.

  One task for TriAlignGR and TIGER (`<method>_<name>_seqrec`); for MACRec the
  mixture `<method>_<name>_seqrec` of its text and image seqrec tasks.
  """
  ds = _resolve(dataset)
  mixture = _register(ds)
  registered = set(train_data.task_names(mixture))
  tasks = [gr_jax_tasks.task_name(ds.method, ds.name, t)
           for t in gr_jax_tasks.seqrec_task_names(ds.method)]
  tasks = [t for t in tasks if t in registered]
  if not tasks:
    raise ValueError(f"{mixture} has no seqrec task with training examples")
  if len(tasks) == 1:
    return tasks[0]
  name = f"{mixture}_seqrec"
  if name in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove(name)
  seqio.MixtureRegistry.add(name, [(t, 1.0) for t in tasks])
  return name


@gin.configurable(module="gr_jax.t5x_gin")
def vocabulary(dataset: Optional[Dataset] = None) -> vocab_lib.GrVocabulary:
  """The mixture's vocabulary (SentencePiece text pieces + SID tokens), built on first use."""
  return train_data.output_vocabulary(mixture_name(dataset))


@gin.configurable(module="gr_jax.t5x_gin")
def vocab_size(dataset: Optional[Dataset] = None, multiple: int = 128) -> int:
  """Vocabulary size rounded up to `multiple` (the T5Config.vocab_size gr_jax.train uses)."""
  return train_data.padded_vocab_size(vocabulary(dataset), multiple)


def sid_token_rows(ds: Dataset, modalities: Sequence[str]) -> np.ndarray:
  """[N, L] vocab ids of every SID of `modalities` in sids.json (modality, then item id order)."""
  vocab = vocabulary(ds)
  tables = recommend.read_sid_strings(ds.data_dir, ds.tokenizer_run)
  rows = []
  for mod in modalities:
    if mod not in tables:
      raise KeyError(f"{layout.sids_path(ds.data_dir, ds.tokenizer_run)} has no {mod!r} SIDs; "
                     f"modalities: {sorted(tables)}")
    rows += [vocab.sid_token_ids(tables[mod][item]) for item in sorted(tables[mod])]
  lengths = {len(r) for r in rows}
  if len(lengths) != 1:
    raise ValueError(f"modalities {list(modalities)} have SIDs of different lengths {sorted(lengths)}")
  return np.array(rows, np.int32)


def default_modalities(ds: Dataset) -> list[str]:
  """The SID modalities of the method's seqrec targets present in sids.json (MACRec: text, image)."""
  present = recommend.read_sid_strings(ds.data_dir, ds.tokenizer_run)
  out = []
  for mod in gr_jax_tasks.seqrec_modalities(ds.method).values():
    mod = mod if mod in present or len(present) != 1 else next(iter(present))
    if mod not in out:
      out.append(mod)
  return out


@functools.lru_cache(maxsize=None)
def _trie(ds: Dataset, modalities: tuple[str, ...], dense_max_entries: int) -> decoding.Trie:
  return decoding.build_trie(sid_token_rows(ds, modalities), dense_max_entries)


@gin.configurable(module="gr_jax.t5x_gin")
def sid_trie(dataset: Optional[Dataset] = None, modalities: Optional[Sequence[str]] = None,
             dense_max_entries: int = decoding.DEFAULT_DENSE_MAX_ENTRIES) -> decoding.Trie:
  """Constraint trie over the catalog SIDs (of both modalities for MACRec: their prefixes differ,
  so the model's first token picks the modality)."""
  ds = _resolve(dataset)
  mods = tuple(modalities) if modalities else tuple(default_modalities(ds))
  return _trie(ds, mods, int(dense_max_entries))
