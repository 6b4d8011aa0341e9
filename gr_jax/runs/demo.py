"""`gr-jax demo`: the whole pipeline on the synthetic catalog for TIGER, MACRec and TriAlignGR.

prepare -> enrich -> embed -> ceiling (the synthetic data's Bayes ceilings) -> tokenize
(one RQ-VAE run per method) -> train (one T5 per method) -> evaluate (full ranking, with
most-popular and SASRec baselines on the same split), then one results table and a
Markdown report with plots. Every stage is a command a user could run alone (they are printed);
rerunning after a kill skips finished stages (see gr_jax.runs.pipeline).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Optional, Sequence

from gr_jax.reports import results_table
from gr_jax.runs import pipeline


def stages_for(out_dir: str, profile: pipeline.Profile, methods: Sequence[str], seed: int,
               train_steps: Optional[int] = None, diagnose: bool = False) -> list[pipeline.Stage]:
  """The demo's stage list: data once, then tokenize/train/evaluate (/diagnose) per method."""
  data = os.path.join(out_dir, "data")
  runs = os.path.join(out_dir, "runs")
  stages = pipeline.data_stages(data, ["--source", "synthetic", "--out", data,
                                       "--items", str(profile.items),
                                       "--users", str(profile.users), "--seed", str(seed)])
  stages.append(pipeline.ceiling_stage(data, profile))
  tokenizer_gin = {m: pipeline.demo_tokenizer_gin(m) for m in methods}
  if any(pipeline.tokenizer_gin_is_collaborative(g) for g in tokenizer_gin.values()):
    stages.append(pipeline.collab_stage(data, seed, profile.sasrec_epochs))
  stages += [pipeline.tokenize_stage(data, m, seed, gin_file=tokenizer_gin[m]) for m in methods]
  for i, m in enumerate(methods):
    model_dir = os.path.join(runs, m)
    stages.append(pipeline.train_stage(data, model_dir, m, train_steps or profile.train_steps[m],
                                       seed))
    # The baselines depend only on the split: evaluate them once, with the first method.
    stages.append(pipeline.evaluate_stage(model_dir, profile,
                                          pipeline.BASELINES if i == 0 else ()))
  if diagnose:  # After every evaluation, reusing the SASRec the first one trained.
    cache = os.path.join(runs, methods[0], "eval", "test", "baselines")
    stages += [pipeline.diagnose_stage(os.path.join(runs, m), profile, cache) for m in methods]
  return stages


def run_demo(out_dir: str, profile_name: str = "full", methods: Sequence[str] = pipeline.METHODS,
             seed: int = 0, train_steps: Optional[int] = None, log=print,
             diagnose: bool = False) -> dict:
  """Runs (or resumes) the demo; returns the combined results (also written to out_dir)."""
  out_dir = os.path.abspath(out_dir)  # Stages run with out_dir as their cwd.
  profile = pipeline.PROFILES[profile_name]
  start = time.time()
  pipe = pipeline.Pipeline(out_dir, log=log)
  seconds = pipe.run_all(stages_for(out_dir, profile, methods, seed, train_steps, diagnose))
  results = results_table.collect(out_dir, methods, seconds)
  results.update(profile=profile_name, seed=seed, wall_seconds=time.time() - start,
                 sizes={"items": profile.items, "users": profile.users,
                        "eval_users": profile.eval_users})
  results_table.write(out_dir, results, title=f"gr_jax demo ({profile_name} profile)")
  return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Registers the `gr-jax demo` flags."""
  parser.add_argument("--out", default="demo_out",
                      help="Output directory: data/, runs/<method>/, report.md, results.json.")
  parser.add_argument("--profile", choices=sorted(pipeline.PROFILES), default="full",
                      help="'full': 1,000 items / 2,000 users, <= 15 min on 2 CPU cores "
                      "(the README job); 'quick': 300 items / 600 users smoke run.")
  parser.add_argument("--methods", default=",".join(pipeline.METHODS),
                      help="Comma-separated subset of tiger,macrec,trialign.")
  parser.add_argument("--train_steps", type=int, default=None,
                      help="Train steps of every method (default: the profile's per-method steps).")
  parser.add_argument("--seed", type=int, default=0, help="Seed of data, tokenizers and training.")
  parser.add_argument("--diagnose", action="store_true",
                      help="Also run `gr-jax diagnose` per method (about 1-2 min each on 2 cores); "
                      "the report links runs/<method>/eval/test/diagnose/diagnose.md.")


def main(args) -> int:
  """Entry point of `gr-jax demo`."""
  methods = pipeline.parse_methods(args.methods)
  try:
    results = run_demo(args.out, args.profile, methods, args.seed, args.train_steps,
                       diagnose=args.diagnose)
  except pipeline.StageFailed as e:
    print(f"gr-jax demo: {e}\nFix the cause and rerun the same command: finished stages are kept.")
    return 1
  print()
  print(results_table.markdown(results))
  ceiling = results_table.ceiling_markdown(results)
  if ceiling:
    print("What the synthetic data allow (test split):\n" + ceiling)
  print(f"report: {os.path.join(args.out, results_table.REPORT_MD)}")
  return 0
