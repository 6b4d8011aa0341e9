"""Reduced-size reproduction on real Amazon data (the datasets in ../shared/data).

    python -m gr_jax.runs.real_data --shared ../shared/data --dataset Scientific --out runs/sci

runs prepare (from the peer files as published) -> enrich -> embed -> tokenize ->
train -> evaluate for TIGER and TriAlignGR with the demo-size configs, evaluates the
most-popular and SASRec baselines on the same leave-one-out split and prints one table.
The shared datasets carry text only (no images): captions fall back to text-only
heuristics and the image block of the fused embedding to the documented fallback, so
this checks the pipeline and the text/interest side, not CMSA. Resumable like the demo.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Optional, Sequence

from gr_jax.reports import results_table
from gr_jax.runs import pipeline

# Dataset folder in ../shared/data -> (prepare --source, --dataset).
DATASETS = {"Scientific": ("recbole", "Scientific"), "Games": ("recbole", "Games-6k")}
METHODS = ("tiger", "trialign")
PROFILE = pipeline.Profile(items=0, users=0, train_steps={"tiger": 1500, "trialign": 2000},
                           eval_users=1000, sasrec_epochs=None, gen_examples=50)


def stages_for(shared_dir: str, dataset: str, out_dir: str, max_users: int,
               methods: Sequence[str], profile: pipeline.Profile, seed: int) -> list[pipeline.Stage]:
  """prepare (peer files) -> enrich -> embed -> per-method tokenize/train/evaluate."""
  source, name = DATASETS[dataset]
  data = os.path.join(out_dir, "data")
  stages = pipeline.data_stages(data, ["--source", source, "--raw_dir",
                                        os.path.join(shared_dir, dataset), "--dataset", name,
                                        "--out", data, "--max_users", str(max_users)])
  stages += [pipeline.tokenize_stage(data, m, seed) for m in methods]
  for i, m in enumerate(methods):
    model_dir = os.path.join(out_dir, "runs", m)
    stages.append(pipeline.train_stage(data, model_dir, m, profile.train_steps[m], seed))
    stages.append(pipeline.evaluate_stage(model_dir, profile, pipeline.BASELINES if i == 0 else ()))
  return stages


def run(shared_dir: str, dataset: str, out_dir: str, max_users: int = 2000,
        methods: Sequence[str] = METHODS, train_steps: Optional[int] = None, seed: int = 0,
        eval_users: Optional[int] = 1000, log=print) -> dict:
  """Runs (or resumes) the reduced reproduction; returns the results table rows."""
  shared_dir, out_dir = os.path.abspath(shared_dir), os.path.abspath(out_dir)
  if dataset not in DATASETS:
    raise ValueError(f"unknown dataset {dataset!r}; choose from {sorted(DATASETS)}")
  steps = {m: train_steps or PROFILE.train_steps[m] for m in methods}
  profile = pipeline.Profile(items=0, users=max_users, train_steps=steps, eval_users=eval_users,
                         sasrec_epochs=PROFILE.sasrec_epochs, gen_examples=PROFILE.gen_examples)
  start = time.time()
  seconds = pipeline.Pipeline(out_dir, log=log).run_all(
      stages_for(shared_dir, dataset, out_dir, max_users, methods, profile, seed))
  results = results_table.collect(out_dir, methods, seconds)
  results.update(dataset=dataset, max_users=max_users, wall_seconds=time.time() - start)
  results_table.write(out_dir, results, title=f"gr_jax on Amazon {dataset} ({max_users} users)")
  return results


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Command line of `python -m gr_jax.runs.real_data`."""
  parser = argparse.ArgumentParser(prog="python -m gr_jax.runs.real_data", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--shared", default=os.path.join("..", "shared", "data"),
                      help="Folder holding the dataset folders (Scientific/, Games/).")
  parser.add_argument("--dataset", choices=sorted(DATASETS), default="Scientific")
  parser.add_argument("--out", default="real_data_out")
  parser.add_argument("--max_users", type=int, default=2000, help="Users kept (0 = all).")
  parser.add_argument("--methods", default=",".join(METHODS))
  parser.add_argument("--train_steps", type=int, default=None)
  parser.add_argument("--eval_users", type=int, default=1000)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  methods = pipeline.parse_methods(args.methods)
  try:
    results = run(args.shared, args.dataset, args.out, args.max_users, methods, args.train_steps,
                  args.seed, args.eval_users or None)
  except pipeline.StageFailed as e:
    print(f"real_data: {e}\nRerun the same command to resume.")
    return 1
  print(results_table.markdown(results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
