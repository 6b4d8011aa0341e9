"""`gr-jax reproduce`: one row of a paper's table from the peers' processed files.

  gr-jax reproduce --paper macrec --dataset Instruments --method tiger
      --raw_dir ../shared/data/Instruments_MQL4GRec --budget cpu --out runs/ins_tiger

prepares the peer's split (`gr-jax prepare --source lcrec|recbole`), imports the peer's
SIDs (--sids peer) or computes gr_jax's own (--sids ours: enrich/embed/tokenize; --sids
collab: with collab-embed's SASRec item embeddings of the train split), trains with gin/paper/<paper>/<method>.gin, ranks every test user over the full catalog and writes
OUT/reproduce.md and reproduce.json (ours vs published, difference, 95 % CIs over users and
seeds, the budget used) and learning_curve.png (valid HR@10 vs examples seen). Rerunning the
same command resumes; reproduce.json appears only when the row is finished.
"""

from __future__ import annotations

import argparse
import sys

from gr_jax.reproduce import budget
from gr_jax.reproduce import peer_sids
from gr_jax.reproduce import registry
from gr_jax.reproduce import report
from gr_jax.reproduce import runner


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Registers the `gr-jax reproduce` flags."""
  parser.description = __doc__
  parser.formatter_class = argparse.RawDescriptionHelpFormatter
  a = parser.add_argument
  a("--paper", required=True, choices=sorted(registry.PAPERS),
    help="macrec: MACRec Table 2 (Instruments/Arts/Games, MQL4GRec's split); trialign: "
    "gr_jax's benchmarks, Scientific and LC-Rec's Instruments with LETTER's SIDs "
    "(TriAlignGR publishes no numbers).")
  a("--dataset", required=True, help="A dataset of the paper: " + "; ".join(
      f"{p.name}: {', '.join(p.datasets)}" for p in registry.PAPERS.values()) + ".")
  a("--method", required=True, help="A row: " + "; ".join(
      f"{p.name}: {', '.join(p.methods)}" for p in registry.PAPERS.values()) + ".")
  a("--raw_dir", required=True, help="The peer's files for the dataset: MQL4GRec "
    "<D>.inter.json (+ <D>.index_lemb.json / <D>.index_vitemb.json SIDs); RecBole/UniSRec "
    "<D>.{train,valid,test}.inter + <D>.text + <D>.item2index.")
  a("--out", required=True, help="Output directory of this row (one row per directory).")
  a("--budget", choices=budget.BUDGETS, default="paper",
    help="paper: the gin file's epochs and batch; cpu: CPU_EXAMPLES examples in batches of "
    "CPU_BATCH_SIZE (gin/paper/common.gin: a FLOP estimate for ~20 min of training on 2 "
    "cores; SASRec: CPU_SCALE of its epochs; with --sids ours the RQ-VAE trains at most "
    "CPU_TOKENIZER_STEPS steps). The report states the scale and that it is not the paper's "
    "budget.")
  a("--sids", choices=("peer", "ours", "collab"), default="peer",
    help="peer: the SIDs the peer published; ours: gr_jax's enrich/embed/tokenize; collab: "
    "gr_jax's collaborative SIDs (gr-jax collab-embed: SASRec item embeddings of the train "
    "split, fused into the tokenizer input, or alone on datasets without item content).")
  a("--duplicates", choices=peer_sids.POLICIES, default="peer",
    help="Items sharing a peer SID: peer = keep them (a decoded SID counts for each of its "
    "items, ties to the first, as the peers score); extra_level = gr_jax's fix, one more "
    "SID level makes every SID unique.")
  a("--seeds", type=int, default=None,
    help="Seeds 0..N-1 (default: the gin's SEEDS for --budget paper, 1 for cpu).")
  a("--scale", type=float, default=None,
    help="Fraction of the paper's training examples (overrides --budget's).")
  a("--train_steps", type=int, default=None,
    help="Fix the steps (SASRec: epochs) outright, for smoke tests; the report states the scale.")
  a("--curve_points", type=int, default=None, help="Learning-curve points (gin CURVE_POINTS).")
  a("--curve_users", type=int, default=1000, help="Valid users per learning-curve point.")
  a("--test_users", type=int, default=None,
    help="Rank only the first N test users (default: all, as the papers).")
  a("--gin", dest="gin_bindings", action="append", default=[], metavar="NAME=VALUE",
    help="Extra gin binding for this row (repeatable), e.g. --gin LEARNING_RATE=5e-4 or "
    "--gin gr_jax.model.T5Config.num_encoder_layers=2: the paper config with one change.")
  a("--tokenize_gin", action="append", default=[], metavar="NAME=VALUE",
    help="Extra gin binding of the tokenizer with --sids ours, e.g. TokenizerConfig.epochs=500.")
  a("--allow_other_split", action="store_true",
    help="Run even if the prepared split differs from the paper's Table 1 counts.")


def main(args) -> int:
  """Entry point of `gr-jax reproduce`."""
  opts = runner.Options(**{k: getattr(args, k) for k in (
      "paper", "dataset", "method", "raw_dir", "out", "budget", "sids", "duplicates", "seeds",
      "scale", "train_steps", "curve_points", "curve_users", "test_users", "allow_other_split")},
      gin_bindings=tuple(args.gin_bindings), tokenize_gin=tuple(args.tokenize_gin))
  try:
    doc = runner.run(opts, log=lambda m: print(f"reproduce: {m}", file=sys.stderr))
  except registry.ReproduceError as e:
    print(f"gr-jax reproduce: {e}", file=sys.stderr)
    return 2
  print(report.markdown(doc))
  return 0
