"""`gr-jax` command line: a thin dispatcher over library modules.

Each subcommand lives in its own module, which exposes
`add_arguments(parser)` and `main(args) -> int`. Modules are imported only when
their subcommand runs, so `gr-jax prepare` never pays for importing JAX.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from gr_jax import flags

# name -> (module, one-line help)
SUBCOMMANDS = {
    "prepare": ("gr_jax.data.prepare",
                "Build items.jsonl / sequences.jsonl / splits from raw Amazon, peer formats or the synthetic catalog."),
    "enrich": ("gr_jax.enrich.stage",
               "CMSA captions and MDIM interest tags per item (cached, resumable)."),
    "embed": ("gr_jax.embed.stage",
              "Text, image and fused item embeddings -> embeddings/*.npy."),
    "collab-embed": ("gr_jax.baselines.collab",
                     "SASRec item embeddings from the train split -> embeddings/collab.npy (collaborative SIDs)."),
    "tokenize": ("gr_jax.rqvae.stage",
                 "Train an RQ-VAE tokenizer and write semantic IDs (sids.json)."),
    "inspect-mixture": ("gr_jax.inspect_mixture",
                        "Show tasks, rates, examples and token lengths of a SeqIO mixture."),
    "train": ("gr_jax.train", "Train the generative recommender (gin-configured)."),
    "evaluate": ("gr_jax.evaluate",
                 "Full-ranking HR/NDCG with trie-constrained beam search; report + plots."),
    "diagnose": ("gr_jax.reports.diagnose",
                 "Why a generative model ranks where it does: SID levels, oracle prefix, popularity."),
    "compare-seeds": ("gr_jax.reports.seed_compare",
                      "Systems compared over several training seeds on the same users (paired, ± s.e.)."),
    "recommend": ("gr_jax.recommend", "Top-K items with titles for a given history."),
    "demo": ("gr_jax.runs.demo",
             "End-to-end demo on the synthetic catalog: all methods + baselines, results table."),
    "ablate": ("gr_jax.runs.ablate", "TriAlignGR / MACRec ablation studies."),
    "reproduce": ("gr_jax.reproduce.cli",
                  "One row of a paper's table from the peers' files: ours vs published, CIs, budget."),
}


def _requested(argv: list[str] | None) -> str | None:
  """The subcommand named on the command line (the first non-option word), if any."""
  for word in (sys.argv[1:] if argv is None else argv):
    if not word.startswith("-"):
      return word if word in SUBCOMMANDS else None
  return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
  """Builds the top-level parser with one sub-parser per subcommand.

  Only the module of subcommand `only` is imported (the others just list their
  one-line help), so `gr-jax prepare` never pays for importing JAX or TensorFlow.
  """
  parser = argparse.ArgumentParser(
      prog="gr-jax",
      description="gr_jax: JAX/Flax generative recommendation (TriAlignGR, MACRec, TIGER).\n"
      "Pipeline: prepare -> enrich -> embed -> tokenize -> train -> evaluate.",
      formatter_class=argparse.RawDescriptionHelpFormatter)
  flags.add_debug_flag(parser)
  sub = parser.add_subparsers(dest="command", metavar="COMMAND")
  for name, (module_name, help_text) in SUBCOMMANDS.items():
    p = sub.add_parser(name, help=help_text, description=help_text,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    if name != only:
      continue
    module = importlib.import_module(module_name)
    module.add_arguments(p)
    if not any("--debug" in a.option_strings for a in p._actions):  # pylint: disable=protected-access
      flags.add_debug_flag(p, default=argparse.SUPPRESS)  # Also after the subcommand; keeps the top one.
    flags.add_dashed_aliases(p)
    p.set_defaults(_module=module)
  return parser


def main(argv: list[str] | None = None) -> int:
  """Entry point of the `gr-jax` console script."""
  # TensorFlow (imported by seqio) logs CUDA probing to stderr on CPU-only hosts.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  parser = build_parser(only=_requested(argv))
  args = parser.parse_args(argv)
  if not getattr(args, "command", None):
    parser.print_help()
    return 2
  return flags.guarded(f"gr-jax {args.command}", lambda: args._module.main(args), args.debug)


if __name__ == "__main__":
  sys.exit(main())
