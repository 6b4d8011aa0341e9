"""`gr-jax demo`: the whole pipeline on the synthetic catalog for TIGER, MACRec and TriAlignGR.

prepare -> enrich -> embed -> tokenize (one RQ-VAE run per method) -> train (one T5
per method) -> evaluate (full ranking, with most-popular and SASRec baselines on
the same split), then one results table and a Markdown report with plots.
Every stage is a `gr-jax` command a user could run alone (they are printed);
rerunning after a kill skips finished stages (see gr_jax.pipeline).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from typing import Mapping, Optional, Sequence

from gr_jax import pipeline
from gr_jax import results_table

METHODS = ("tiger", "macrec", "trialign")
DATASET_NAME = "demo"
BASELINES = ("popularity", "sasrec")


@dataclasses.dataclass(frozen=True)
class Profile:
  """Sizes of one demo run."""
  items: int
  users: int
  train_steps: Mapping[str, int]
  eval_users: Optional[int] = None  # None: every test user.
  sasrec_epochs: Optional[int] = None  # None: SASRecConfig's default.
  gen_examples: int = 100  # Examples per generation task scored in the report.


PROFILES = {
    # The README's main job: <= 15 minutes on 2 CPU cores.
    "full": Profile(items=1000, users=2000,
                    train_steps={"tiger": 800, "macrec": 800, "trialign": 1200},
                    eval_users=1000, sasrec_epochs=20, gen_examples=100),
    # Tests and smoke runs.
    "quick": Profile(items=300, users=600,
                     train_steps={"tiger": 400, "macrec": 500, "trialign": 750},
                     eval_users=200, sasrec_epochs=10, gen_examples=20),
}


def data_stages(data_dir: str, profile: Profile, seed: int) -> list[pipeline.Stage]:
  """prepare -> enrich -> embed on the synthetic catalog."""
  cmd = pipeline.gr_jax_command
  return [
      pipeline.Stage("prepare", cmd("prepare", "--source", "synthetic", "--out", data_dir,
                                    "--items", str(profile.items), "--users", str(profile.users),
                                    "--seed", str(seed)),
                     produces=os.path.join(data_dir, "stats.json")),
      pipeline.Stage("enrich", cmd("enrich", "--data", data_dir),
                     produces=os.path.join(data_dir, "enrich", "interests.jsonl")),
      pipeline.Stage("embed", cmd("embed", "--data", data_dir),
                     produces=os.path.join(data_dir, "embeddings", "fused.npy")),
  ]


def tokenize_stage(data_dir: str, method: str, seed: int, run: Optional[str] = None,
                   gin_bindings: Sequence[str] = (), name: Optional[str] = None) -> pipeline.Stage:
  """One RQ-VAE run (`gin/rqvae/demo_<method>.gin`) -> DIR/tokenizer/<run>/sids.json.

  Gin files are named relative to the repo's gin/ folder, which `gr-jax tokenize` and
  `gr-jax train` search (includes inside them resolve the same way).
  """
  run = run or method
  argv = ["tokenize", "--data", data_dir,
          "--gin_file", f"rqvae/demo_{method}.gin",  # Found via the gin search path (gin/).
          "--seed", str(seed)]
  if run != method:
    argv += ["--run", run]
  argv += [f"--gin.{b}" for b in gin_bindings]
  return pipeline.Stage(name or f"tokenize:{run}", pipeline.gr_jax_command(*argv),
                        produces=os.path.join(data_dir, "tokenizer", run, "sids.json"))


def train_stage(data_dir: str, model_dir: str, method: str, steps: int, seed: int,
                tokenizer_run: Optional[str] = None, gin_bindings: Sequence[str] = (),
                name: Optional[str] = None) -> pipeline.Stage:
  """One T5 run (`gin/demo/<method>.gin`) -> MODEL_DIR/run_info.json."""
  argv = ["train", "--gin_file", f"demo/{method}.gin",
          f"--gin.MODEL_DIR='{model_dir}'", f"--gin.DATA_DIR='{data_dir}'",
          f"--gin.DATASET_NAME='{DATASET_NAME}'", f"--gin.TRAIN_STEPS={int(steps)}",
          f"--gin.SEED={int(seed)}"]
  if tokenizer_run and tokenizer_run != method:
    argv.append(f"--gin.TOKENIZER_RUN='{tokenizer_run}'")
  argv += [f"--gin.{b}" for b in gin_bindings]
  return pipeline.Stage(name or f"train:{os.path.basename(model_dir)}",
                        pipeline.gr_jax_command(*argv),
                        produces=os.path.join(model_dir, "run_info.json"))


def evaluate_stage(model_dir: str, profile: Profile, baselines: Sequence[str] = (),
                   name: Optional[str] = None, tsne: str = "pca") -> pipeline.Stage:
  """Full-ranking test evaluation -> MODEL_DIR/eval/test/report.json."""
  argv = ["evaluate", "--model_dir", model_dir, "--split", "test",
          "--baselines", ",".join(baselines), "--max_gen_examples", str(profile.gen_examples),
          "--tsne", tsne]
  if profile.eval_users:
    argv += ["--max_users", str(profile.eval_users)]
  if profile.sasrec_epochs:
    argv += ["--sasrec_epochs", str(profile.sasrec_epochs)]
  return pipeline.Stage(name or f"evaluate:{os.path.basename(model_dir)}",
                        pipeline.gr_jax_command(*argv),
                        produces=os.path.join(model_dir, "eval", "test", "report.json"))


def stages_for(out_dir: str, profile: Profile, methods: Sequence[str], seed: int,
               train_steps: Optional[int] = None) -> list[pipeline.Stage]:
  """The demo's stage list: data once, then tokenize/train/evaluate per method."""
  data = os.path.join(out_dir, "data")
  runs = os.path.join(out_dir, "runs")
  stages = data_stages(data, profile, seed)
  stages += [tokenize_stage(data, m, seed) for m in methods]
  for i, m in enumerate(methods):
    model_dir = os.path.join(runs, m)
    stages.append(train_stage(data, model_dir, m, train_steps or profile.train_steps[m], seed))
    # The baselines depend only on the split: evaluate them once, with the first method.
    stages.append(evaluate_stage(model_dir, profile, BASELINES if i == 0 else ()))
  return stages


def run_demo(out_dir: str, profile_name: str = "full", methods: Sequence[str] = METHODS,
             seed: int = 0, train_steps: Optional[int] = None, log=print) -> dict:
  """Runs (or resumes) the demo; returns the combined results (also written to out_dir)."""
  out_dir = os.path.abspath(out_dir)  # Stages run with out_dir as their cwd.
  profile = PROFILES[profile_name]
  start = time.time()
  pipe = pipeline.Pipeline(out_dir, log=log)
  seconds = pipe.run_all(stages_for(out_dir, profile, methods, seed, train_steps))
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
  parser.add_argument("--profile", choices=sorted(PROFILES), default="full",
                      help="'full': 1,000 items / 2,000 users, <= 15 min on 2 CPU cores "
                      "(the README job); 'quick': 300 items / 600 users smoke run.")
  parser.add_argument("--methods", default=",".join(METHODS),
                      help="Comma-separated subset of tiger,macrec,trialign.")
  parser.add_argument("--train_steps", type=int, default=None,
                      help="Train steps of every method (default: the profile's per-method steps).")
  parser.add_argument("--seed", type=int, default=0, help="Seed of data, tokenizers and training.")


def parse_methods(text: str) -> list[str]:
  """'tiger,macrec' -> ['tiger', 'macrec'] (unknown names are an error)."""
  methods = [m.strip() for m in text.split(",") if m.strip()]
  unknown = sorted(set(methods) - set(METHODS))
  if unknown or not methods:
    raise SystemExit(f"--methods: unknown or empty {unknown or text!r}; choose from {list(METHODS)}")
  return methods


def main(args) -> int:
  """Entry point of `gr-jax demo`."""
  methods = parse_methods(args.methods)
  try:
    results = run_demo(args.out, args.profile, methods, args.seed, args.train_steps)
  except pipeline.StageFailed as e:
    print(f"gr-jax demo: {e}\nFix the cause and rerun the same command: finished stages are kept.")
    return 1
  print()
  print(results_table.markdown(results))
  print(f"report: {os.path.join(args.out, results_table.REPORT_MD)}")
  return 0
