"""One results table over several evaluated runs (demo, ablations, real-data scripts)."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

from gr_jax import io_utils
from gr_jax.data import layout

REPORT_JSON = "results.json"
REPORT_MD = "report.md"
METRICS = ("HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10")
DISPLAY = {"tiger": "TIGER", "macrec": "MACRec", "trialign": "TriAlignGR",
           "popularity": "Most-popular", "sasrec": "SASRec", "markov": "Markov (category)"}
BASELINES = ("popularity", "markov", "sasrec")  # Listed first, in this order.


def _mean_over_modalities(sid_report: Mapping | None, key: str) -> float | None:
  """Mean of `modalities.<MOD>.<key>` over the modalities of a sid_report.json."""
  if not sid_report:
    return None
  values = [m[key] for m in (sid_report.get("modalities") or {}).values()
            if isinstance(m, Mapping) and m.get(key) is not None]
  return sum(values) / len(values) if values else None


def collision_rate(sid_report: Mapping | None) -> float | None:
  """Final collision rate (after resolution), averaged over modalities."""
  return _mean_over_modalities(sid_report, "collision_rate_after")


def collision_rate_before(sid_report: Mapping | None) -> float | None:
  """Collision rate of the raw RQ-VAE codes (before resolution), averaged over modalities."""
  return _mean_over_modalities(sid_report, "collision_rate_before")


def row(name, metrics, **extra):
  """A table row: the system name, the ranking metrics and any extra columns."""
  row = {"system": name, **{k: metrics.get(k) for k in METRICS}}
  row.update(extra)
  return row


def collect(out_dir: str, methods: Sequence[str], stage_seconds: Mapping[str, float] | None = None,
            runs_dir: str | None = None, data_dir: str | None = None) -> dict:
  """Gathers evaluation reports, SID reports and train times into rows."""
  runs_dir = runs_dir or os.path.join(out_dir, "runs")
  data_dir = data_dir or os.path.join(out_dir, "data")
  rows, baselines, ranks = [], {}, {}
  for m in methods:
    report = io_utils.read_json_or_empty(layout.eval_report_path(os.path.join(runs_dir, m)))
    info = io_utils.read_json_or_empty(os.path.join(runs_dir, m, layout.RUN_INFO))
    sid_report = io_utils.read_json_or_empty(layout.sid_report_path(data_dir, m))
    systems = report.get("systems", {})
    digest = report.get("users_digest")
    for name, metrics in systems.items():
      if (report.get("ranks") or {}).get(name) is not None:
        ranks[(m, name) if name not in BASELINES else name] = (digest, report["ranks"][name])
      if name in BASELINES:
        baselines[name] = metrics
        continue
      label = DISPLAY.get(m, m)
      if ":" in name:
        part = name.split(":", 1)[1]
        label = f"{label} ({part})" if part != "ensemble" else label
      rows.append(row(label, metrics, method=m, system_key=name,
                       collision_rate_before=collision_rate_before(sid_report),
                       collision_rate=collision_rate(sid_report),
                       train_seconds=info.get("train_time_s")))
  for name in reversed(BASELINES):
    if name in baselines:
      rows.insert(0, row(DISPLAY[name], baselines[name], method=name, system_key=name,
                          collision_rate_before=None, collision_rate=None, train_seconds=None))
  _add_paired(rows, ranks)
  out = {"rows": rows, "stage_seconds": dict(stage_seconds or {})}
  ceiling = io_utils.read_json_or_empty(layout.ceiling_path(data_dir, "test"))
  if ceiling:
    out["ceilings"] = ceiling["ceilings"]
  return out


PAIRED_AGAINST = ("sasrec", "markov")


def _add_paired(rows: list, ranks: Mapping) -> None:
  """Adds `paired` {baseline: {metric: {diff, se, n}}} to each model row whose evaluation scored
  the same users as the baseline's (equal `users_digest`), from the per-user ranks."""
  from gr_jax import evaluate  # pylint: disable=g-import-not-at-top
  for r in rows:
    own = ranks.get((r.get("method"), r.get("system_key")))
    if r.get("method") in BASELINES or own is None:
      continue
    for base in PAIRED_AGAINST:
      if base in ranks and ranks[base][0] == own[0] and len(ranks[base][1]) == len(own[1]):
        d = evaluate.paired_differences({"model": own[1], base: ranks[base][1]}, [base])
        r.setdefault("paired", {})[base] = d["model"][base]


CEILING_LABELS = {
    "full": "each user's hidden taste known (Bayes ceiling)",
    "history": "taste inferred from the history (all tastes)",
    "history_text": "taste inferred from the history (text-visible tastes only)",
    "markov": "category process + popularity, no per-user taste",
}


def ceiling_markdown(results: Mapping) -> str:
  """The synthetic data's ceilings (gr_jax.data.synthetic_ceiling) next to the best system."""
  ceilings = results.get("ceilings") or {}
  if not ceilings:
    return ""
  lines = ["| what a recommender knows | HR@1 | HR@5 | HR@10 | users |",
           "|---|---:|---:|---:|---:|"]
  for mode in [m for m in CEILING_LABELS if m in ceilings]:
    c = ceilings[mode]
    lines.append(f"| {CEILING_LABELS[mode]} | " + " | ".join(
        f"{c[f'HR@{k}']:.3f} ± {c[f'HR@{k}_se']:.3f}" for k in (1, 5, 10)) + f" | {c['n']} |")
  scored = [r for r in results["rows"] if r.get("HR@10") is not None]
  if scored:
    best = max(scored, key=lambda r: r["HR@10"])
    lines.append(f"| *best system above: {best['system']}* | {_fmt(best.get('HR@1'), '{:.3f}')} "
                 f"| {_fmt(best.get('HR@5'), '{:.3f}')} | {best['HR@10']:.3f} | |")
  return "\n".join(lines) + "\n"


def _fmt(value, pattern="{:.4f}"):
  return "–" if value is None else pattern.format(value)


def markdown(results: Mapping) -> str:
  """The results table as Markdown."""
  paired = [b for b in PAIRED_AGAINST if any(b in (r.get("paired") or {}) for r in results["rows"])]
  head = ("| system | " + " | ".join(METRICS) + " | SID collisions (raw → final) | train time |"
          + "".join(f" Δ HR@10 vs {DISPLAY[b]} (paired) |" for b in paired))
  lines = [head, "|---|" + "---:|" * (len(METRICS) + 2 + len(paired))]
  for r in results["rows"]:
    coll = "–" if r.get("collision_rate") is None else \
        f"{_fmt(r.get('collision_rate_before'), '{:.1%}')} → {_fmt(r['collision_rate'], '{:.1%}')}"
    cells = []
    for b in paired:
      d = ((r.get("paired") or {}).get(b) or {}).get("HR@10")
      cells.append("–" if d is None else f"{d['diff']:+.3f} ± {d['se']:.3f}")
    lines.append(f"| {r['system']} | " + " | ".join(_fmt(r[k]) for k in METRICS) +
                 f" | {coll} | {_fmt(r.get('train_seconds'), '{:.0f} s')} |"
                 + "".join(f" {c} |" for c in cells))
  return "\n".join(lines) + "\n"


def plot(results: Mapping, path: str) -> None:
  """Grouped bar chart of HR@10 and NDCG@10 per system."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = results["rows"]
  names = [r["system"] for r in rows]
  fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(rows)), 4))
  width = 0.38
  for j, metric in enumerate(("HR@10", "NDCG@10")):
    ax.bar([i + (j - 0.5) * width for i in range(len(rows))],
           [r[metric] or 0.0 for r in rows], width, label=metric)
  ax.set_xticks(range(len(rows)))
  ax.set_xticklabels(names, rotation=20, ha="right")
  ax.set_ylabel("score (test, full ranking)")
  ax.legend()
  ax.grid(axis="y", alpha=0.3)
  fig.tight_layout()
  with io_utils.atomic_open(path, "wb") as f:
    fig.savefig(f, format="png", dpi=120)
  plt.close(fig)


def write(out_dir: str, results: Mapping, title: str = "gr_jax demo results") -> None:
  """results.json, report.md and results.png in out_dir."""
  io_utils.atomic_write_json(os.path.join(out_dir, REPORT_JSON), results)
  plot(results, os.path.join(out_dir, "results.png"))
  lines = [f"# {title}", "", markdown(results), "![HR@10 and NDCG@10](results.png)", ""]
  ceiling = ceiling_markdown(results)
  if ceiling:
    lines += ["## How far from what the data allow", "",
              "The synthetic generator is known, so the test split's ceilings can be computed "
              "(`python -m gr_jax.data.synthetic_ceiling`): ranking by the generator's own "
              "next-item probabilities with what each row says the recommender knows. The gap "
              "between the 'inferred from the history' and 'no per-user taste' rows is taste "
              "(colour, pattern, style, audience, price) that the history reveals. The 'Markov "
              "(category)' baseline is the 'no per-user taste' process counted on the training "
              "split alone (`gr_jax.baselines.markov`): a system that does not beat it uses "
              "nothing of the history but the last item's category.", "", ceiling]
  stage = results.get("stage_seconds") or {}
  if stage:
    lines += ["## Stage times", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in stage.items()]
    lines.append("")
  for m in {r.get("method") for r in results["rows"]} - {*BASELINES, None}:
    lines.append(f"- {DISPLAY.get(m, m)}: per-run report `runs/{m}/eval/test/report.md`, "
                 f"SID report `data/tokenizer/{m}/sid_report.json`")
    if os.path.exists(os.path.join(out_dir, "runs", m, "eval", "test", "diagnose", "diagnose.md")):
      lines.append(f"  - diagnosis (SID levels, true first level, popularity vs SASRec): "
                   f"`runs/{m}/eval/test/diagnose/diagnose.md`")
  io_utils.atomic_write_text(os.path.join(out_dir, REPORT_MD), "\n".join(lines) + "\n")
