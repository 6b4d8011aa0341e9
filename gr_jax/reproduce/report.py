"""reproduce.json / reproduce.md / learning_curve.png of one table row."""

from __future__ import annotations

import math
import os
from typing import Mapping

from gr_jax import io_utils
from gr_jax.reproduce import stats

JSON, MD, CURVE_PNG = "reproduce.json", "reproduce.md", "learning_curve.png"


def _f(x, pattern="{:.4f}") -> str:
  return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else pattern.format(x)


def _ci(pair) -> str:
  lo, hi = pair
  return "–" if lo is None or hi is None else f"[{lo:.4f}, {hi:.4f}]"


def plot_curve(curves: Mapping[str, list], path: str, title: str) -> None:
  """Valid HR@10 vs examples seen, one line per seed."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 4))
  for seed, points in curves.items():
    if points:
      ax.plot([p["examples_seen"] for p in points], [p["valid_hr10"] for p in points], "o-",
              label=f"seed {seed}")
  ax.set_xlabel("training examples seen")
  ax.set_ylabel("valid HR@10")
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  with io_utils.atomic_open(path, "wb") as f:
    fig.savefig(f, format="png", dpi=110)
  plt.close(fig)


def markdown(doc: Mapping) -> str:
  """The human-readable report."""
  b, row = doc["budget"], doc["row"]
  lines = [f"# gr-jax reproduce: {row['paper_title']} {row['table']}, {row['dataset']}, "
           f"{row['method']}", ""]
  if b["kind"] != "paper" or abs(b["scale"] - 1.0) > 1e-9:
    lines += [f"**Not the paper's budget**: `--budget {b['kind']}` trains on "
              f"{b['scale']:.4g}x the paper's training examples ({b['epochs']:.3g} of "
              f"{b['paper_epochs']:g} epochs). Differences to the published numbers below "
              "measure the budget as much as the method.", ""]
  n_seeds = len(doc["seeds"])
  lines += [f"Test users: {doc['test_users']} (leave-one-out, full ranking over "
            f"{doc['split']['items']} items), seeds: {n_seeds}. 95 % CI over users: normal "
            "interval of the per-user mean; over seeds: Student t (needs >= 2 seeds).", "",
            "| metric | ours | 95 % CI (users) | 95 % CI (seeds) | published | ours − published |",
            "|---|---:|---:|---:|---:|---:|"]
  for metric, m in doc["metrics"].items():
    lines.append(f"| {metric} | {_f(m['ours'])} | {_ci(m['ci_users'])} | {_ci(m['ci_seeds'])} | "
                 f"{_f(m['published'])} | {_f(m['diff'], '{:+.4f}')} |")
  if not any(m["published"] is not None for m in doc["metrics"].values()):
    lines += ["", f"No published value for this row in published.csv ({row['published_note']})."]
  else:
    lines += ["", f"Published: {row['published_source']}."]
  if doc.get("systems"):
    lines += ["", "Per decoding (seed means, HR@10): " + ", ".join(
        f"{k} {_f(v)}" for k, v in doc["systems"].items())]
  dup = doc.get("sid_info") or {}
  lines += ["", "## Data and SIDs", "",
            f"* split: {doc['split']['users']} users, {doc['split']['items']} items, "
            f"{doc['split']['interactions']} interactions from `{doc['raw_dir']}` "
            f"(`prepare --source {doc['split']['source']}`); paper's Table 1: "
            f"{doc['split'].get('paper') or 'not stated'}"
            + (" — **differs**" if doc["split"].get("mismatch") else "")]
  if dup and dup["kind"] in ("ours", "collab"):
    lines.append(f"* SIDs: `--sids {dup['kind']}`, gr_jax's tokenizer `gin/{dup['gin']}` (its own "
                 f"collision policy; see data/tokenizer/{dup.get('run', 'ours')}/sid_report.json)")
    if dup.get("collaborative"):
      lines.append(f"  * collaborative signal: `TokenizerConfig.collaborative = "
                   f"'{dup['collaborative']}'` (SASRec item embeddings of the train split only, "
                   "`gr-jax collab-embed`)")
    tb = dup.get("tokenizer_budget") or {}
    if tb.get("steps") and tb.get("config_steps") and tb["steps"] < tb["config_steps"]:
      lines.append(f"  * tokenizer budget: **{tb['steps']} of the {tb['config_steps']} RQ-VAE "
                   f"steps** its gin file's {tb['config_epochs']} epochs give "
                   f"(`--budget {b['kind']}`: CPU_TOKENIZER_STEPS)")
    elif tb.get("steps"):
      lines.append(f"  * tokenizer budget: {tb['steps']} RQ-VAE steps (its gin file's epochs)")
  elif dup:
    lines.append(f"* SIDs: `--sids {dup['kind']}`, duplicates `--duplicates {dup['policy']}`")
    for mod, r in (dup.get("report") or {}).items():
      extra = r.get("extra_level")
      lines.append(f"  * {mod}: {r['items_sharing']} items share a SID ({r['rate']:.1%}, "
                   f"{r['groups']} groups)" + (
                       f"; split by an extra level <{extra['prefix']}_k> of {extra['size']} codes"
                       if extra else "; kept as the peers do (a decoded SID counts for every "
                       "item that has it; the trie returns the first)" if r["items_sharing"]
                       else ""))
  lines += ["", "## Budget used", "",
            f"* `--budget {b['kind']}`, scale {b['scale']:.4g} of the paper's "
            f"{b['paper_epochs']:g} epochs; batch {b['batch_size']}, "
            f"{b['examples_per_epoch']} training examples per epoch",
            f"* per seed: {b['train_steps']} steps, {b['epochs']:.3g} epochs, "
            f"{b['examples_seen']} examples seen; "
            + (f"beam {b['beam_size']}; " if row["method"] != "sasrec" else "")
            + f"history {b['max_history']} items",
            f"* wall time: {doc['wall_seconds']:.0f} s in all stages "
            f"(training {doc['train_seconds']:.0f} s), device: {doc['device']}",
            f"* config: `gin/{doc['gin_file']}`"]
  flags = doc.get("flags") or {}
  changes = [f"`--gin {x}`" for x in flags.get("gin_bindings") or ()]
  changes += [f"`--tokenize_gin {x}`" for x in flags.get("tokenize_gin") or ()]
  if changes:
    lines.append("* **changed from the paper config**: " + ", ".join(changes))
  lines += ["", f"![learning curve]({CURVE_PNG})", ""]
  return "\n".join(lines)


def write(out_dir: str, doc: dict) -> None:
  """reproduce.json and reproduce.md, atomically; json last (its presence = complete)."""
  io_utils.atomic_write_text(os.path.join(out_dir, MD), markdown(doc))
  io_utils.atomic_write_json(os.path.join(out_dir, JSON), doc)


def summarize_seeds(rank_docs: Mapping[int, dict], published_values: dict) -> tuple[dict, dict]:
  """(metrics summary of the row, {system: mean HR@10 over seeds})."""
  ranks = [d["ranks"][d["row"]] for d in rank_docs.values()]
  systems = {}
  for d in rank_docs.values():
    for name, m in d["metrics"].items():
      systems.setdefault(name, []).append(m["HR@10"])
  return (stats.summarize(ranks, published_values),
          {k: sum(v) / len(v) for k, v in systems.items()} if len(systems) > 1 else {})
