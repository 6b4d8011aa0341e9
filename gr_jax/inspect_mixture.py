"""`gr-jax inspect-mixture`: tasks, rates, sizes, decoded examples and token lengths of a SeqIO mixture."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import sys
from typing import Optional

import numpy as np
import tqdm

from gr_jax import io_utils

PERCENTILES = (50, 90, 95, 99, 100)


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("mixture", nargs="?", default=None,
                      help="Registered seqio mixture or task name (default: the one --data registers).")
  parser.add_argument("--split", default="train", help="Split to inspect (train/validation/test).")
  parser.add_argument("-n", "--num_examples", type=int, default=5, help="Decoded examples per task.")
  parser.add_argument("--data", default=None, help="Dataset dir to register first (gr_jax_tasks.register_dataset).")
  parser.add_argument("--method", default="trialign", choices=("trialign", "macrec", "tiger"),
                      help="Method to register --data with.")
  parser.add_argument("--name", default=None, help="Dataset name for --data (default: its directory name).")
  parser.add_argument("--module", action="append", default=[],
                      help="Extra module(s) to import that register seqio tasks (repeatable).")
  parser.add_argument("--max_length_examples", type=int, default=2000,
                      help="Examples per task scanned for token-length percentiles.")
  parser.add_argument("--seed", type=int, default=0, help="Shuffle seed for the length scan.")
  parser.add_argument("--plot", default=None, help="Histogram PNG path (default: ./<mixture>_<split>_lengths.png).")
  parser.add_argument("--json", default=None, help="Also write the statistics as JSON here.")


def _provider_tasks(provider) -> tuple[list, dict]:
  """(tasks, {task name: normalized rate}) of a Mixture or a single Task."""
  import seqio  # pylint: disable=g-import-not-at-top
  if isinstance(provider, seqio.Mixture):
    tasks = provider.tasks
    rates = {t.name: float(provider.get_rate(t)) for t in tasks}
  else:
    tasks, rates = [provider], {provider.name: 1.0}
  total = sum(rates.values()) or 1.0
  return tasks, {k: v / total for k, v in rates.items()}


def task_size(task, split: str) -> Optional[int]:
  """Number of source examples of a task split, if it can be known without a full pass."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  source = task.source
  if hasattr(source, "num_examples"):
    return int(source.num_examples(split))
  n = source.num_input_examples(split)
  if n is not None:
    return int(n)
  try:
    card = int(source.get_dataset(split=split, shuffle=False).cardinality())
  except Exception:  # pylint: disable=broad-except
    return None
  return card if card >= 0 and card != int(tf.data.INFINITE_CARDINALITY) else None


def _task_dataset(task, split: str, shuffle: bool, seed: int):
  try:
    return task.get_dataset(None, split=split, shuffle=shuffle, seed=seed)
  except Exception:  # pylint: disable=broad-except
    # Some preprocessors insist on a sequence length; use one that never trims.
    big = {k: 1 << 16 for k in task.output_features}
    return task.get_dataset(big, split=split, shuffle=shuffle, seed=seed)


def _percentiles(values: list[int]) -> dict:
  if not values:
    return {}
  arr = np.asarray(values)
  return {f"p{p}": int(math.ceil(np.percentile(arr, p))) for p in PERCENTILES}


def inspect(name: str, split: str = "train", num_examples: int = 5, max_length_examples: int = 2000,
            seed: int = 0, log=print) -> dict:
  """Statistics of a registered mixture/task: rates, sizes, examples, token-length percentiles."""
  import seqio  # pylint: disable=g-import-not-at-top
  provider = seqio.get_mixture_or_task(name)
  tasks, rates = _provider_tasks(provider)
  features = [k for k, f in provider.output_features.items() if f.vocabulary is not None]
  stats = {"name": name, "split": split, "features": features, "tasks": {}}
  log(f"{name} ({split}): {len(tasks)} task(s)")
  log(f"{'task':<48} {'rate':>7} {'examples':>9}")
  for task in tasks:
    size = task_size(task, split) if split in task.splits else 0
    stats["tasks"][task.name] = {"rate": rates[task.name], "size": size}
    log(f"{task.name:<48} {rates[task.name]:>7.2%} {size if size is not None else '?':>9}")

  all_lengths = {k: [] for k in features}
  for task in tasks:
    info = stats["tasks"][task.name]
    if split not in task.splits or info["size"] == 0:
      continue
    log(f"\n== {task.name} (first {num_examples})")
    info["examples"] = []
    for row in _task_dataset(task, split, shuffle=False, seed=seed).take(num_examples).as_numpy_iterator():
      pair = {k: task.output_features[k].vocabulary.decode(row[k].tolist()) for k in features}
      info["examples"].append(pair)
      for k in features:
        log(f"  {k:>8}: {pair[k]}")
    lengths = {k: [] for k in features}
    rows = _task_dataset(task, split, shuffle=True, seed=seed).take(max_length_examples)
    total = min(max_length_examples, info["size"] or max_length_examples)
    for row in tqdm.tqdm(rows.as_numpy_iterator(), total=total, desc=f"lengths {task.name}",
                         leave=False, file=sys.stderr):
      for k in features:
        lengths[k].append(int(len(row[k])))
    info["lengths"] = {k: _percentiles(v) for k, v in lengths.items()}
    info["raw_lengths"] = lengths
    for k in features:
      all_lengths[k].extend(lengths[k])

  log("\nToken lengths (with EOS): " + ", ".join(f"p{p}" for p in PERCENTILES))
  for task_name, info in stats["tasks"].items():
    for k, pct in info.get("lengths", {}).items():
      log(f"  {task_name:<48} {k:>8}: " + " ".join(f"{v:>5}" for v in pct.values()))
  # Feature lengths that keep >= 99% of every task's examples untrimmed.
  suggested = {}
  for k in features:
    p99 = [info["lengths"][k]["p99"] for info in stats["tasks"].values() if info.get("lengths")]
    if p99:
      suggested[k] = int(8 * math.ceil(max(p99) / 8))
  stats["suggested_feature_lengths"] = suggested
  stats["overall_lengths"] = {k: _percentiles(v) for k, v in all_lengths.items()}
  log(f"\nSuggested TASK_FEATURE_LENGTHS (max task p99, rounded up to 8): {suggested}")
  return stats


def plot_lengths(stats: dict, path: str) -> str:
  """Writes per-feature token-length histograms (one colour per task) to a PNG."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  features = stats["features"]
  fig, axes = plt.subplots(1, len(features), figsize=(6 * len(features), 4), squeeze=False)
  for ax, k in zip(axes[0], features):
    data, labels = [], []
    for task_name, info in stats["tasks"].items():
      if info.get("raw_lengths", {}).get(k):
        data.append(info["raw_lengths"][k])
        labels.append(task_name)
    if data:
      bins = np.linspace(0, max(max(d) for d in data) + 1, 40)
      ax.hist(data, bins=bins, stacked=True, label=labels)
      if k in stats.get("suggested_feature_lengths", {}):
        ax.axvline(stats["suggested_feature_lengths"][k], color="k", ls="--", lw=1,
                   label="suggested length")
    ax.set_title(f"{stats['name']} [{stats['split']}] {k}")
    ax.set_xlabel("tokens (with EOS)")
    ax.set_ylabel("examples")
  handles, labels = axes[0][0].get_legend_handles_labels()
  if handles:
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=7)
    fig.subplots_adjust(bottom=0.1 + 0.05 * math.ceil(len(labels) / 4))
  with io_utils.atomic_open(path, "wb") as f:
    fig.savefig(f, format="png", dpi=100)
  plt.close(fig)
  return path


def main(args: argparse.Namespace) -> int:
  import gr_jax_tasks  # pylint: disable=g-import-not-at-top
  for module in args.module:
    importlib.import_module(module)
  name = args.mixture
  if args.data:
    from gr_jax.data import schema  # pylint: disable=g-import-not-at-top
    schema.require_prepared(args.data)
    dataset = args.name or re.sub(r"\W", "_", os.path.basename(os.path.normpath(args.data)))
    registered = gr_jax_tasks.register_dataset(dataset, args.data, method=args.method)
    name = name or registered
  if not name:
    print("inspect-mixture: give a mixture name or --data DIR", file=sys.stderr)
    return 2
  import seqio  # pylint: disable=g-import-not-at-top
  if name not in seqio.MixtureRegistry.names() and name not in seqio.TaskRegistry.names():
    known = sorted(seqio.MixtureRegistry.names())
    print(f"inspect-mixture: {name!r} is not registered; mixtures: {known}", file=sys.stderr)
    return 2
  stats = inspect(name, split=args.split, num_examples=args.num_examples,
                  max_length_examples=args.max_length_examples, seed=args.seed)
  plot = args.plot or f"{name}_{args.split}_lengths.png"
  print(f"Length histogram: {plot_lengths(stats, plot)}")
  if args.json:
    slim = {**stats, "tasks": {t: {k: v for k, v in info.items() if k != "raw_lengths"}
                               for t, info in stats["tasks"].items()}}
    io_utils.atomic_write_json(args.json, slim)
  return 0
