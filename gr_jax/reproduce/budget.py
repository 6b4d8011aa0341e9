"""Training budgets of a paper gin file: the paper's, or scaled to fit 2 CPU cores."""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Optional, Sequence

import gin

from gr_jax import gin_flags
from gr_jax import paths

BUDGETS = ("paper", "cpu")
CHECKPOINT_EVERY = 500  # Steps between checkpoints of long runs.
# Macros `gr-jax reproduce` reads from gin/paper/<paper>/<method>.gin (gin/paper/common.gin).
MACROS = ("EPOCHS", "WARMUP_RATIO", "BEAM_SIZE", "SEEDS", "CPU_SCALE", "CPU_EXAMPLES",
          "CPU_BATCH_SIZE", "CPU_TOKENIZER_STEPS", "CURVE_POINTS",
          "FEATURE_LENGTHS", "MAX_HISTORY", "BATCH_SIZE", "TOKENIZE_GIN", "COMPACT_HISTORY")
# Tasks per epoch of each gr_jax_tasks method: (tasks over the train split, tasks over items).
TASKS_PER_EPOCH = {"tiger": (1, 0), "macrec": (4, 2), "trialign": (2, 6)}
# The train step's required macros, given dummies so the file parses outside `gr-jax train`.
_REQUIRED = ("MODEL_DIR=None", "TRAIN_STEPS=1", "DATA_DIR=None", "DATASET_NAME=None",
             "TASK_FEATURE_LENGTHS=None")


def gin_path(paper: str, method: str) -> str:
  """gin/paper/<paper>/<method>.gin relative to the gin search path."""
  return f"paper/{paper}/{method}.gin"


def read_macros(gin_file: str, bindings: Sequence[str] = ()) -> dict:
  """{macro: value} of MACROS that `gin_file` (or its includes) and `bindings` set (else None)."""
  gin.clear_config()
  quiet = gin_flags._DropGinSearchMisses()  # pylint: disable=protected-access
  root = logging.getLogger()
  root.addFilter(quiet)
  try:
    if paths.GIN_DIR not in gin.config._LOCATION_PREFIXES:  # pylint: disable=protected-access
      gin.add_config_file_search_path(paths.GIN_DIR)
    gin.parse_config_files_and_bindings([gin_file], list(_REQUIRED) + list(bindings),
                                        skip_unknown=True)
    out = {}
    for name in MACROS:
      try:
        value = gin.query_parameter(f"%{name}")
      except ValueError:
        value = None
      while isinstance(value, gin.config.ConfigurableReference):  # %OTHER_MACRO / gin.constant.
        value = value.scoped_configurable_fn()
      out[name] = value
    return out
  finally:
    root.removeFilter(quiet)
    gin.clear_config()


@dataclasses.dataclass
class Budget:
  """What one seed of a row trains on, and how it compares to the paper's budget."""
  kind: str  # 'paper' or 'cpu'.
  scale: float  # Fraction of the paper's training examples.
  paper_epochs: float
  epochs: float  # Passes over the mixture's training examples actually planned.
  batch_size: int
  examples_per_epoch: int
  train_steps: int
  warmup_steps: int
  examples_seen: int  # train_steps x batch_size (SASRec: epochs x windows).
  curve_steps: list[int]  # Steps where valid HR@10 is measured (the last = train_steps).
  beam_size: int
  max_history: int
  seeds: int

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


def examples_per_epoch(train_method: str, train_examples: int, items: int) -> int:
  """Examples in one pass over a method's mixture (MQL4GRec-style: every task's examples)."""
  seq, item = TASKS_PER_EPOCH.get(train_method, (1, 0))
  return seq * train_examples + item * items


def curve_points(train_steps: int, points: int) -> list[int]:
  """About `points` steps spread over training, the last = train_steps; past 1,000 steps apart
  they are multiples of CHECKPOINT_EVERY, so a killed run loses at most that many steps."""
  interval = max(1, math.ceil(train_steps / max(1, int(points))))
  if interval > 1000:
    interval = math.ceil(interval / CHECKPOINT_EVERY) * CHECKPOINT_EVERY
  return sorted({min(train_steps, interval * k) for k in range(1, math.ceil(train_steps / interval) + 1)})


def checkpoint_period(curve_steps: Sequence[int]) -> int:
  """Checkpoint period that lands on every curve step (each is a multiple of it)."""
  first = curve_steps[0]
  return CHECKPOINT_EVERY if first > 1000 and first % CHECKPOINT_EVERY == 0 else first


def plan(macros: dict, kind: str, examples: int, scale: Optional[float] = None,
         train_steps: Optional[int] = None, seeds: Optional[int] = None,
         curve: Optional[int] = None) -> Budget:
  """The budget of one row: EPOCHS x examples / BATCH_SIZE steps for 'paper'; for 'cpu'
  CPU_EXAMPLES examples (or CPU_SCALE of the paper's) in batches of CPU_BATCH_SIZE.

  `scale` overrides the fraction; `train_steps` fixes the steps outright (smoke tests), and
  the report then states the scale that results.
  """
  if kind not in BUDGETS:
    raise ValueError(f"--budget {kind!r}: choose from {', '.join(BUDGETS)}")
  epochs = float(macros.get("EPOCHS") or 1)
  examples = max(int(examples), 1)
  batch = int(macros.get("BATCH_SIZE") or 1)
  if kind == "cpu":
    batch = int(macros.get("CPU_BATCH_SIZE") or batch)
  if scale is None and kind == "paper":
    scale = 1.0
  elif scale is None and macros.get("CPU_SCALE"):
    scale = float(macros["CPU_SCALE"])
  elif scale is None:
    scale = min(1.0, float(macros.get("CPU_EXAMPLES") or 0) / (epochs * examples)) or 1.0
  if train_steps:
    steps = int(train_steps)
    scale = steps * batch / (epochs * examples)
  else:
    steps = max(1, math.ceil(epochs * scale * examples / batch))
  warmup = int(round(float(macros.get("WARMUP_RATIO") or 0.0) * steps))
  if seeds is None:
    seeds = int(macros.get("SEEDS") or 1) if kind == "paper" else 1
  return Budget(kind=kind, scale=float(scale), paper_epochs=epochs,
                epochs=steps * batch / examples, batch_size=batch, examples_per_epoch=examples,
                train_steps=steps, warmup_steps=warmup, examples_seen=steps * batch,
                curve_steps=curve_points(steps, curve or int(macros.get("CURVE_POINTS") or 1)),
                beam_size=int(macros.get("BEAM_SIZE") or 20),
                max_history=int(macros["MAX_HISTORY"]), seeds=int(seeds))


def feature_lengths(macros: dict, sid_lengths: Sequence[int]) -> dict:
  """TASK_FEATURE_LENGTHS of the run: FEATURE_LENGTHS, or room for MAX_HISTORY SIDs (with
  COMPACT_HISTORY: the SID tokens, a task marker and eos; else also separators and a prompt)."""
  if macros.get("FEATURE_LENGTHS"):
    return dict(macros["FEATURE_LENGTHS"])
  levels = max(sid_lengths) if sid_lengths else 4
  history = int(macros["MAX_HISTORY"])
  if macros.get("COMPACT_HISTORY"):
    return {"inputs": history * levels + 2, "targets": levels + 2}
  return {"inputs": 32 + history * (levels + 1), "targets": levels + 2}


@gin.configurable
def sasrec_config(**fields):
  """SASRecConfig from gin bindings (`sasrec_config.hidden = 64` ... in gin/paper/*/sasrec.gin)."""
  from gr_jax.baselines import sasrec  # pylint: disable=g-import-not-at-top
  return sasrec.SASRecConfig(**fields)
