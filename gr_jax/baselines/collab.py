"""`gr-jax collab-embed`: collaborative item embeddings for the RQ-VAE (collaborative semantic IDs).

SASRec (`gr_jax.baselines.sasrec`) is trained on the sequences of `splits/train.jsonl` only, for
a fixed number of epochs with no validation-based early stopping, so nothing of the valid or test
targets reaches the embeddings (the leakage rule). Its item-embedding table (row n = catalog item
n of items.jsonl) is written to DIR/embeddings/collab.npy + collab_ids.txt + collab.json; the
tokenizer fuses it into its input with `TokenizerConfig.collaborative` ('concat' or 'replace').
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Optional

import numpy as np

from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import schema

DEFAULT_EPOCHS = 20


def collab_config(epochs: int = DEFAULT_EPOCHS, hidden: int = 64, seed: int = 0, **kwargs):
  """The SASRec config of the collaborative embeddings (no early stopping: patience 0)."""
  from gr_jax.baselines import sasrec  # pylint: disable=g-import-not-at-top
  return sasrec.SASRecConfig(epochs=epochs, hidden=hidden, seed=seed, patience=0, **kwargs)


def collab_embeddings(data_dir: str, config=None, progress: bool = True
                      ) -> tuple[list[str], np.ndarray, list[dict]]:
  """(item ids, float32 [N, hidden] item embeddings, training history) from the train split only."""
  from gr_jax import baselines  # pylint: disable=g-import-not-at-top
  from gr_jax.baselines import sasrec  # pylint: disable=g-import-not-at-top
  config = config or collab_config()
  item_ids = list(schema.load_items(data_dir))
  rec = sasrec.SASRecRecommender(item_ids, config)
  rec.fit(baselines.train_sequences(data_dir), valid=None, progress=progress)  # No valid/test.
  table = np.asarray(rec.params["item_embedding"]["embedding"], np.float32)[1:]  # Row 0 = padding.
  return item_ids, table, rec.history


def _key(data_dir: str, config) -> dict:
  split_file = schema.split_path(data_dir, "train")
  items = os.path.join(data_dir, layout.ITEMS)
  return {"config": dataclasses.asdict(config),
          "train": [os.path.getsize(split_file), os.stat(split_file).st_mtime_ns],
          "items": [os.path.getsize(items), os.stat(items).st_mtime_ns]}


def write_collab(data_dir: str, config=None, progress: bool = True, force: bool = False) -> dict:
  """Trains (unless the same data + config are already done) and writes DIR/embeddings/collab.*."""
  config = config or collab_config()
  info_path = layout.embeddings_path(data_dir, layout.COLLAB_INFO)
  key = _key(data_dir, config)
  done = io_utils.read_json_or_empty(info_path)
  if not force and done.get("key") == key and os.path.exists(layout.embeddings_path(data_dir, layout.COLLAB)):
    return done
  ids, table, history = collab_embeddings(data_dir, config, progress)
  os.makedirs(os.path.join(data_dir, layout.EMBEDDINGS_DIR), exist_ok=True)
  io_utils.atomic_save_npy(layout.embeddings_path(data_dir, layout.COLLAB), table)
  io_utils.atomic_write_text(layout.embeddings_path(data_dir, layout.COLLAB_IDS), "\n".join(ids) + "\n")
  info = {"key": key, "source": "SASRec item embeddings, splits/train.jsonl only, no early stopping",
          "shape": list(table.shape), "history": history}
  io_utils.atomic_write_json(info_path, info)  # Written last: marks the stage done.
  return info


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--data", required=True, help="Dataset dir (reads items.jsonl, splits/train.jsonl).")
  parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="SASRec epochs (fixed).")
  parser.add_argument("--hidden", type=int, default=64, help="Embedding size.")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--force", action="store_true", help="Retrain even if up to date.")
  parser.add_argument("--no_progress", action="store_true")


def main(args) -> int:
  cfg = collab_config(args.epochs, args.hidden, args.seed)
  info = write_collab(args.data, cfg, progress=not args.no_progress, force=args.force)
  print(f"collaborative embeddings {info['shape']} -> "
        f"{layout.embeddings_path(args.data, layout.COLLAB)}")
  return 0
