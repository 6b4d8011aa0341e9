"""Per-user ranks of one trained model or of SASRec on a split, as JSON (a reproduce stage).

  python -m gr_jax.reproduce.rank model --model_dir M --step 100 --valid_out v.json \
      --valid_users 1000 --test_out t.json
  python -m gr_jax.reproduce.rank sasrec --data D --gin_file paper/macrec/sasrec.gin \
      --seed 0 --epochs 50 --out ranks.json

Run as a subprocess (fresh JAX and gin state). Ranks are 0-based, -1 when the target is not
in the top 10. With a peer's duplicate SIDs kept, a target counts as found when its SID is
decoded (the trie holds the first item of each SID: `peer_sids.representatives`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Optional, Sequence

import numpy as np

from gr_jax import evaluate
from gr_jax import io_utils
from gr_jax.reproduce import budget

TOP_K = 10


def device_info() -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  d = jax.devices()[0]
  return {"platform": d.platform, "device_kind": getattr(d, "device_kind", d.platform),
          "count": jax.device_count()}


def _ranks_payload(ranks: dict, extra: dict) -> dict:
  return dict(extra, ranks={k: np.asarray(v).tolist() for k, v in ranks.items()},
              metrics={k: evaluate.ranking_metrics(v) for k, v in ranks.items()},
              device=device_info())


def load_recommender(model_dir: str, step: Optional[int], beam_size: int, normalize: str,
                     batch_size: int = 64):
  """A Recommender over checkpoint `step` (default latest) of MODEL_DIR."""
  from gr_jax import recommend  # pylint: disable=g-import-not-at-top
  from gr_jax import train  # pylint: disable=g-import-not-at-top
  model, params, run_info = train.load_trained(model_dir, step)
  return recommend.Recommender(model, params, run_info, beam_size=beam_size, top_k=TOP_K,
                               batch_size=batch_size, normalize=normalize, progress=True)


def rank_model(rec, split: str, max_users: Optional[int]) -> dict:
  """{ranks: {system: [U]}, metrics, users, step, ...} of a Recommender on a leave-one-out split."""
  from gr_jax.reproduce import peer_sids  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  run_info, beam_size = rec.run_info, rec.beam_size
  examples = evaluate.split_examples(rec.data_dir, split, max_users)
  histories = [ex.history for ex in examples]
  seqrec = rec.seqrec_tasks()
  ranks, results, first_targets = {}, [], None
  for task, mod in seqrec.items():
    reps = peer_sids.representatives(rec.catalogs[mod].sid_strings, rec.item_ids)
    targets = [None if rec.item_index.get(ex.target) is None else int(reps[rec.item_index[ex.target]])
               for ex in examples]
    first_targets = targets if first_targets is None else first_targets
    results.append(rec.decode_sids(rec.history_inputs(task, histories, mod), mod, desc=task, task=task))
    ranks[task] = evaluate.target_ranks(results[-1][0], targets)
  if len(results) > 1:
    # The fused list holds catalog items; as in MQL4GRec's ensemble.py the target is the item
    # the first (text) modality's SID stands for (itself unless a peer duplicate is kept).
    ranks["ensemble"] = evaluate.target_ranks(rec.fuse(results)[0], first_targets)
  row = "ensemble" if "ensemble" in ranks else next(iter(ranks))
  return _ranks_payload(ranks, {
      "kind": "model", "split": split, "step": int(run_info.get("step", 0)), "row": row,
      "users": len(examples), "beam_size": beam_size, "seconds": time.time() - t0,
      "train_time_s": run_info.get("train_time_s"), "batch_size": run_info.get("batch_size"),
      "num_devices": run_info.get("num_devices")})


def rank_sasrec(data_dir: str, gin_file: str, seed: int, epochs: int,
                max_users: Optional[int], bindings: Sequence[str] = ()) -> dict:
  """Trains SASRec (early stopping on all valid users) and ranks the test users."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  from gr_jax import baselines  # pylint: disable=g-import-not-at-top
  from gr_jax import gin_flags  # pylint: disable=g-import-not-at-top
  from gr_jax.baselines import sasrec  # pylint: disable=g-import-not-at-top
  from gr_jax.data import schema  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  gin_flags.parse_gin([gin_file], list(bindings))
  config = dataclasses.replace(budget.sasrec_config(), seed=seed, epochs=epochs)
  item_ids = list(schema.load_items(data_dir))
  train_seqs = baselines.train_sequences(data_dir)
  valid = evaluate.split_examples(data_dir, "valid")
  rec = sasrec.SASRecRecommender(item_ids, config)
  rec.fit(train_seqs, valid=([ex.history for ex in valid], [ex.target for ex in valid]),
          progress=True)
  windows = len(sasrec.training_windows([rec.to_ids(s) for s in train_seqs.values()],
                                        config.max_len)[0])
  examples = evaluate.split_examples(data_dir, "test", max_users)
  index = {item: n for n, item in enumerate(item_ids)}
  top = rec.predict([ex.history for ex in examples], TOP_K)
  ranks = {"sasrec": evaluate.target_ranks(top, [index.get(ex.target) for ex in examples])}
  curve = [{"epoch": h["epoch"], "examples_seen": h["epoch"] * windows,
            "valid_hr10": h["valid_hr10"]} for h in rec.history if "valid_hr10" in h]
  return _ranks_payload(ranks, {
      "kind": "sasrec", "split": "test", "row": "sasrec", "users": len(examples),
      "config": dataclasses.asdict(config), "epochs_run": len(rec.history),
      "windows_per_epoch": windows, "examples_seen": len(rec.history) * windows,
      "curve": curve, "valid_users": len(valid), "seconds": time.time() - t0,
      "train_time_s": time.time() - t0})


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m gr_jax.reproduce.rank", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="kind", required=True)
  m = sub.add_parser("model", help="Ranks of a trained T5 (a checkpoint step) on a split.")
  m.add_argument("--model_dir", required=True)
  m.add_argument("--step", type=int, default=None, help="Checkpoint step (default: latest).")
  m.add_argument("--valid_out", default=None, help="Ranks of valid users -> this file.")
  m.add_argument("--valid_users", type=int, default=None, help="First N valid users (default all).")
  m.add_argument("--test_out", default=None, help="Ranks of test users -> this file.")
  m.add_argument("--test_users", type=int, default=None, help="First N test users (default all).")
  m.add_argument("--beam_size", type=int, default=20)
  m.add_argument("--normalize", choices=("softmax", "length"), default="softmax",
                 help="Ensemble of two modalities: MACRec mean of softmax scores, or "
                 "MQL4GRec's length-normalised log-probs + 1 per extra modality.")
  s = sub.add_parser("sasrec", help="Train SASRec on the train split, rank the test users.")
  s.add_argument("--data", required=True)
  s.add_argument("--gin_file", required=True)
  s.add_argument("--seed", type=int, default=0)
  s.add_argument("--epochs", type=int, required=True)
  s.add_argument("--max_users", type=int, default=None)
  s.add_argument("--gin", dest="gin_bindings", action="append", default=[], metavar="NAME=VALUE")
  s.add_argument("--out", required=True)
  args = parser.parse_args(argv)
  if args.kind == "model":
    rec = load_recommender(args.model_dir, args.step, args.beam_size, args.normalize)
    jobs = [(out, split, users) for out, split, users in (
        (args.valid_out, "valid", args.valid_users), (args.test_out, "test", args.test_users))
            if out]
    for out, split, users in jobs:
      _write(out, rank_model(rec, split, users or None))
  else:
    _write(args.out, rank_sasrec(args.data, args.gin_file, args.seed, args.epochs,
                                 args.max_users or None, args.gin_bindings))
  return 0


def _write(out: str, payload: dict) -> None:
  io_utils.atomic_write_json(out, payload, indent=None)
  shown = {k: round(v["HR@10"], 4) for k, v in payload["metrics"].items()}
  print(f"{out}: {payload['users']} users, HR@10 {shown}")


if __name__ == "__main__":
  sys.exit(main())
