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

# name -> (module, one-line help)
SUBCOMMANDS = {
    "prepare": ("gr_jax.data.prepare",
                "Build items.jsonl / sequences.jsonl / splits from raw Amazon, peer formats or the synthetic catalog."),
    "enrich": ("gr_jax.enrich.stage",
               "CMSA captions and MDIM interest tags per item (cached, resumable)."),
    "embed": ("gr_jax.embed.stage",
              "Text, image and fused item embeddings -> embeddings/*.npy."),
    "tokenize": ("gr_jax.tokenizer.stage",
                 "Train an RQ-VAE tokenizer and write semantic IDs (sids.json)."),
    "inspect-mixture": ("gr_jax.inspect_mixture",
                        "Show tasks, rates, examples and token lengths of a SeqIO mixture."),
    "train": ("gr_jax.train", "Train the generative recommender (gin-configured)."),
    "evaluate": ("gr_jax.evaluate",
                 "Full-ranking HR/NDCG with trie-constrained beam search; report + plots."),
    "recommend": ("gr_jax.recommend", "Top-K items with titles for a given history."),
    "demo": ("gr_jax.demo",
             "End-to-end demo on the synthetic catalog: all methods + baselines, results table."),
    "ablate": ("gr_jax.ablate", "TriAlignGR / MACRec ablation studies."),
}


def _load(module_name: str):
  try:
    return importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    # The subcommand's module (or its package) is not there yet; any other
    # missing import is a real error and must surface.
    if e.name == module_name or module_name.startswith(f"{e.name}."):
      return None
    raise


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
  sub = parser.add_subparsers(dest="command", metavar="COMMAND")
  for name, (module_name, help_text) in SUBCOMMANDS.items():
    p = sub.add_parser(name, help=help_text, description=help_text,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    if name != only:
      p.set_defaults(_module=None, _name=name)
      continue
    module = _load(module_name)
    if module is None or not hasattr(module, "add_arguments"):
      p.set_defaults(_module=None, _name=name)
      continue
    module.add_arguments(p)
    p.set_defaults(_module=module, _name=name)
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
  if args._module is None:
    print(f"gr-jax {args._name}: not built yet.", file=sys.stderr)
    return 3
  return int(args._module.main(args) or 0)


if __name__ == "__main__":
  sys.exit(main())
