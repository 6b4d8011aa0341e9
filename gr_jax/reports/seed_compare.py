"""`gr-jax compare-seeds`: systems compared over several training seeds, on the same users.

One seed's HR@10 difference between two systems mixes the effect of the method with the
luck of one initialisation and one data order. This reads the per-user ranks that
`gr-jax evaluate` stores in each report.json (`ranks`, one entry per system) and, for every
named system, averages each user's metric over that system's seeds. It reports

  * per system: the metric of each seed, their mean and standard deviation over seeds, and
    the standard error over users of the seed-averaged per-user metric;
  * per system against the reference: the mean over users of the seed-averaged difference,
    ± its standard error over users (paired: the same users on both sides), and the
    difference of every seed pair (i-th seed against i-th seed) to show the spread.

Every report must hold the same users (`users_digest`); a report that does not is an error
that names the file. Writes OUT.json and OUT.md when --out is given.

  gr-jax evaluate --model_dir runs/tiger_s1 --split test --baselines sasrec --sasrec_seed 1
  gr-jax compare-seeds --reference SASRec \\
      --run TIGER=tiger@runs/tiger_s0/eval/test/report.json \\
      --run TIGER=tiger@runs/tiger_s1/eval/test/report.json \\
      --run SASRec=sasrec@runs/tiger_s0/eval/test/report.json \\
      --run SASRec=sasrec@runs/tiger_s1/eval/test/report.json
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from typing import Optional, Sequence

import numpy as np

from gr_jax import evaluate
from gr_jax import io_utils


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """One seed of one system: LABEL=SYSTEM@REPORT (SYSTEM is a key of the report's `ranks`)."""
  label: str
  system: str
  report: str


def parse_run(text: str) -> RunSpec:
  """'TIGER=tiger@path/report.json' -> RunSpec; SYSTEM defaults to the report's method."""
  if "=" not in text:
    raise ValueError(f"--run {text!r}: expected LABEL=SYSTEM@REPORT or LABEL=REPORT")
  label, rest = text.split("=", 1)
  system, report = rest.split("@", 1) if "@" in rest else ("", rest)
  if not label.strip() or not report.strip():
    raise ValueError(f"--run {text!r}: empty label or report path")
  return RunSpec(label.strip(), system.strip(), report.strip())


def load_ranks(spec: RunSpec) -> tuple[np.ndarray, str]:
  """(per-user 0-based ranks [U], users_digest) of one run; errors name the file and the key."""
  if not os.path.exists(spec.report):
    raise FileNotFoundError(f"{spec.report}: no such report (run `gr-jax evaluate` first)")
  report = io_utils.read_json(spec.report)
  system = spec.system or report.get("method", "")
  ranks = report.get("ranks") or {}
  if system not in ranks:
    raise KeyError(f"{spec.report}: no per-user ranks for system {system!r} "
                   f"(it has: {', '.join(sorted(ranks)) or 'none'})")
  return np.asarray(ranks[system], np.int64), str(report.get("users_digest", ""))


def compare(specs: Sequence[RunSpec], reference: Optional[str] = None,
            metric: str = "HR@10") -> dict:
  """Seed-averaged per-system metric and paired differences against `reference` (see module)."""
  if not specs:
    raise ValueError("no runs given")
  per_label: dict[str, list[np.ndarray]] = {}
  digest, first, n_users = None, None, None
  for spec in specs:
    ranks, dig = load_ranks(spec)
    if first is None:
      digest, first, n_users = dig, spec.report, len(ranks)
    elif dig != digest or len(ranks) != n_users:
      raise ValueError(f"{spec.report}: its users differ from those of {first} "
                       f"(users_digest {dig!r} vs {digest!r}); evaluate both on the same split "
                       "and --max_users")
    per_label.setdefault(spec.label, []).append(evaluate.per_user_metric(ranks, metric))
  if reference is not None and reference not in per_label:
    raise ValueError(f"reference {reference!r} is not a run label ({', '.join(per_label)})")
  systems = {}
  for label, seeds in per_label.items():
    per_seed = np.array([s.mean() for s in seeds])
    averaged = np.mean(seeds, axis=0)
    systems[label] = {
        "seeds": per_seed.tolist(), "mean": float(per_seed.mean()),
        "seed_sd": float(per_seed.std(ddof=1)) if len(seeds) > 1 else float("nan"),
        "se_users": evaluate.standard_error(averaged), "n_seeds": len(seeds), "n_users": int(len(averaged))}
    if reference is not None and label != reference:
      ref = per_label[reference]
      d = averaged - np.mean(ref, axis=0)
      pairs = [float((a - b).mean()) for a, b in zip(seeds, ref)]
      systems[label]["vs_reference"] = {"diff": float(d.mean()), "se": evaluate.standard_error(d),
                                        "seed_pair_diffs": pairs}
  return {"metric": metric, "reference": reference, "users_digest": digest,
          "runs": [dataclasses.asdict(s) for s in specs], "systems": systems}


def markdown(result: dict) -> str:
  """The comparison as a markdown table."""
  metric, ref = result["metric"], result["reference"]
  head = (f"| system | seeds | {metric} per seed | mean ± s.e. (users) | s.d. over seeds |"
          + (f" Δ vs {ref} (paired, seed-averaged) | Δ per seed pair |" if ref else ""))
  lines = [head, "|---|---:|---|---:|---:|" + ("---:|---|" if ref else "")]
  for label, s in result["systems"].items():
    sd = "–" if math.isnan(s["seed_sd"]) else f"{s['seed_sd']:.4f}"
    row = (f"| {label} | {s['n_seeds']} | {' / '.join(f'{v:.4f}' for v in s['seeds'])} | "
           f"{s['mean']:.4f} ± {s['se_users']:.4f} | {sd} |")
    if ref:
      vs = s.get("vs_reference")
      row += (f" {vs['diff']:+.4f} ± {vs['se']:.4f} | "
              f"{' / '.join(f'{v:+.4f}' for v in vs['seed_pair_diffs'])} |" if vs else " – | – |")
    lines.append(row)
  n = next(iter(result["systems"].values()))["n_users"]
  lines.append(f"\n{n} users; s.e. over users of each user's metric averaged over the seeds.")
  return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--run", action="append", required=True, metavar="LABEL=SYSTEM@REPORT",
                      help="One seed of one system: a display label, the system's key in the "
                      "report's per-user ranks (tiger, macrec, trialign, sasrec, markov, "
                      "popularity; default: the report's method) and an eval report.json. "
                      "Repeat; runs with the same label are that system's seeds.")
  parser.add_argument("--reference", default=None,
                      help="Label every other system is paired against (e.g. SASRec).")
  parser.add_argument("--metric", default="HR@10", help="HR@K or NDCG@K.")
  parser.add_argument("--out", default=None, help="Write OUT.json and OUT.md.")


def main(args) -> int:
  result = compare([parse_run(r) for r in args.run], args.reference, args.metric)
  text = markdown(result)
  if args.out:
    io_utils.atomic_write_json(args.out + ".json", result)
    io_utils.atomic_write_text(args.out + ".md", text + "\n")
  print(text)
  return 0
