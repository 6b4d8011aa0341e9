"""Training examples/s (and optionally HR@10) of prompt vs compact history inputs, same run.

The prompt form wraps a history in task text and ", " separators ("Predict the next item from
the history: <a_1><b_2><c_3>, <a_4>..."); the compact form (`COMPACT_HISTORY = True`, TIGER's)
feeds the SID tokens alone. Both train the same gin config on the same prepared dataset, each
with the input length that holds its longest history (so neither is cut), alternating
prompt/compact `--repeats` times; examples/s is the median of the logged steps/s after the
first log period (compilation excluded) x batch size. With `--evaluate` each form's last run is
also ranked on the test split (HR@10 ± standard error over users).

  python benchmarks/bench_compact_inputs.py --data demo_out/data --method tiger
  python benchmarks/bench_compact_inputs.py --data demo_out/data --method tiger --steps 800 \
      --evaluate --max_users 1000 --json out.json

Measure on an idle machine: both forms share the cores one after the other, not at once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from gr_jax import io_utils

FORMS = ("prompt", "compact")


def longest_input(data_dir: str, method: str, compact: bool, max_history: int) -> int:
  """Tokens (+ eos) of the longest training/test input of the method's history tasks."""
  import gr_jax_tasks  # pylint: disable=g-import-not-at-top
  from gr_jax_tasks import prompts, registry  # pylint: disable=g-import-not-at-top
  name = gr_jax_tasks.register_dataset(f"bench_{'c' if compact else 'p'}", data_dir, method,
                                       max_history=max_history, compact_history=compact)
  vocab = registry.vocabulary(name)
  cfg = registry.dataset_config(name)
  longest = 0
  for task in gr_jax_tasks.task_names(method):
    if not prompts.takes_history(task):
      continue
    for split in ("train", "test"):
      for rec in registry.examples(cfg, task, split):
        longest = max(longest, len(vocab.encode(rec["inputs"])) + 1)
  return longest


def train(data_dir: str, method: str, model_dir: str, steps: int, compact: bool, inputs: int,
          targets: int, max_history: int, batch: int) -> dict:
  """One `gr-jax train` run; returns its logged steps/s (after the first log) and wall time."""
  argv = [sys.executable, "-m", "gr_jax.cli", "train", "--gin_file", f"demo/{method}.gin",
          f"--gin.MODEL_DIR='{model_dir}'", f"--gin.DATA_DIR='{data_dir}'",
          "--gin.DATASET_NAME='bench'", f"--gin.TRAIN_STEPS={steps}",
          f"--gin.COMPACT_HISTORY={compact}", f"--gin.MAX_HISTORY={max_history}",
          f"--gin.BATCH_SIZE={batch}", "--gin.gr_jax.train.train.log_period=50",
          f"--gin.TASK_FEATURE_LENGTHS={{'inputs': {inputs}, 'targets': {targets}}}"]
  subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  rows = [r for _, r in io_utils.read_jsonl(os.path.join(model_dir, "metrics.jsonl"))]
  rates = [r["train/steps_per_s"] for r in rows if "train/steps_per_s" in r][1:]
  info = io_utils.read_json(os.path.join(model_dir, "run_info.json"))
  return {"steps_per_s": statistics.median(rates) if rates else float("nan"),
          "train_time_s": info.get("train_time_s")}


def evaluate(model_dir: str, max_users: int) -> dict:
  """HR@10 of `gr-jax evaluate` on the test split, with its standard error over users."""
  subprocess.run([sys.executable, "-m", "gr_jax.cli", "evaluate", "--model_dir", model_dir,
                  "--split", "test", "--max_users", str(max_users), "--baselines", "",
                  "--max_gen_examples", "0", "--tsne", "none"], check=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
  report = io_utils.read_json(os.path.join(model_dir, "eval", "test", "report.json"))
  method = report["method"]
  row = report["systems"].get(method) or report["systems"][f"{method}:ensemble"]
  hr, n = float(row["HR@10"]), int(row["n"])
  return {"HR@10": hr, "se": (hr * (1 - hr) / max(n, 1)) ** 0.5, "users": n}


def main() -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data", required=True, help="A prepared + tokenized dataset dir (e.g. demo_out/data).")
  p.add_argument("--method", default="tiger", choices=("tiger", "macrec", "trialign"))
  p.add_argument("--steps", type=int, default=300, help="Train steps per run.")
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--max_history", type=int, default=20)
  p.add_argument("--repeats", type=int, default=2, help="Alternating prompt/compact rounds.")
  p.add_argument("--evaluate", action="store_true", help="Also rank the test split (HR@10).")
  p.add_argument("--max_users", type=int, default=1000)
  p.add_argument("--json", default=None, help="Write the results here.")
  args = p.parse_args()
  targets = {"tiger": 8, "macrec": 8, "trialign": 32}[args.method]
  lengths = {f: longest_input(args.data, args.method, f == "compact", args.max_history) for f in FORMS}
  out = {"data": os.path.abspath(args.data), "method": args.method, "steps": args.steps,
         "batch": args.batch, "max_history": args.max_history, "input_length": lengths, "runs": {}}
  with tempfile.TemporaryDirectory() as tmp:
    for r in range(args.repeats):
      for form in FORMS:
        model_dir = os.path.join(tmp, f"{form}{r}")
        res = train(args.data, args.method, model_dir, args.steps, form == "compact", lengths[form],
                    targets, args.max_history, args.batch)
        out["runs"].setdefault(form, []).append(res)
        print(f"round {r} {form:8s} inputs {lengths[form]:3d} tokens: "
              f"{res['steps_per_s'] * args.batch:8.1f} examples/s", flush=True)
    for form in FORMS:
      rates = [x["steps_per_s"] * args.batch for x in out["runs"][form]]
      out[form] = {"examples_per_s": statistics.median(rates), "input_length": lengths[form]}
      if args.evaluate:
        out[form].update(evaluate(os.path.join(tmp, f"{form}{args.repeats - 1}"), args.max_users))
  ratio = out["compact"]["examples_per_s"] / out["prompt"]["examples_per_s"]
  out["compact_over_prompt"] = ratio
  print(f"\n| form | input tokens | examples/s |" + (" HR@10 |" if args.evaluate else ""))
  print("|---|---:|---:|" + ("---:|" if args.evaluate else ""))
  for form in FORMS:
    row = out[form]
    hr = f" {row['HR@10']:.4f} ± {row['se']:.4f} |" if args.evaluate else ""
    print(f"| {form} | {row['input_length']} | {row['examples_per_s']:.1f} |{hr}")
  print(f"\ncompact / prompt examples/s: {ratio:.2f}x (same run, {args.repeats} alternating rounds)")
  if args.json:
    io_utils.atomic_write_json(args.json, out, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
