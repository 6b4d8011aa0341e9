"""`gr-jax ablate`: the TriAlignGR and MACRec ablation studies on one prepared dataset.

Studies (each a set of variants that share the dataset's splits and seeds):
  tasks      tasks added incrementally (TriAlignGR Fig. 3): seqrec, + title<->SID,
             + history->title, + content/interest (MDIM), + visual description (CMSA).
  captions   TriAlignGR without CMSA captions (fused embedding, SIDs and tasks lose them).
  interests  TriAlignGR without MDIM interest tags.
  noise      TriAlignGR with a fraction p of captions swapped between items (robustness
             to noisy captions; captions.jsonl stays clean).
  macrec     MACRec with and without the contrastive quantization losses.
  collab     TIGER, MACRec and TriAlignGR with and without collaborative semantic IDs (the
             RQ-VAE input + SASRec item embeddings learned on the train split only).
A variant that changes the enrichment view lives in its own dataset directory under
OUT/variants/<name>/ that links the source's items/sequences/splits/images and copies its
enrichment caches, so nothing is recomputed that the view does not change.
Every stage is resumable (gr_jax.runs.pipeline); the table and plots go to OUT/ablation.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from typing import Optional, Sequence

from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.reports import results_table
from gr_jax.runs import pipeline

STUDIES = ("tasks", "captions", "interests", "noise", "macrec", "collab")
COLLAB_METHODS = (("tiger", "TIGER"), ("macrec", "MACRec"), ("trialign", "TriAlignGR"))
TRIALIGN_TASKS = ("seqrec", "seqrec_title", "title2sid", "sid2title", "content2sid",
                  "sid2interest", "visdesc2sid", "visdesc2title")
# Incremental task groups of the task study, in the order they are added.
TASK_GROUPS = (
    ("SeqRec", ("seqrec",)),
    ("+ Title<->SID", ("title2sid", "sid2title")),
    ("+ History->Title", ("seqrec_title",)),
    ("+ Content/Interest->SID (MDIM)", ("content2sid", "sid2interest")),
    ("+ VisDesc->SID/Title (CMSA)", ("visdesc2sid", "visdesc2title")),
)
# MACRec's cross-modal (per level) and alignment InfoNCE weights set to zero.
MACREC_NO_CONTRASTIVE = ("TokenizerConfig.con_weights=(0.0, 0.0, 0.0, 0.0)",
                         "TokenizerConfig.align_weight=0.0")
# Files a variant dataset links from its source (read-only inputs of every stage).
_LINKED = (layout.ITEMS, layout.SEQUENCES, layout.STATS, layout.SPLITS_DIR, layout.IMAGES_DIR,
           layout.LATENT_FACTORS)


def make_variant_dir(source: str, target: str) -> str:
  """A dataset dir sharing `source`'s inputs (symlinks) with its own enrich/ and embeddings/."""
  os.makedirs(target, exist_ok=True)
  for name in _LINKED:
    src, dst = os.path.join(os.path.abspath(source), name), os.path.join(target, name)
    if os.path.exists(src) and not os.path.lexists(dst):
      os.symlink(src, dst)
  for sub in (layout.ENRICH_DIR, layout.EMBEDDINGS_DIR):
    src, dst = os.path.join(source, sub), os.path.join(target, sub)
    if os.path.isdir(src) and not os.path.exists(dst):
      tmp = dst + ".tmp"
      shutil.rmtree(tmp, ignore_errors=True)
      shutil.copytree(src, tmp)
      os.replace(tmp, dst)  # Whole copy or nothing, even if killed.
  return target


def _drop_binding(keep: Sequence[str]) -> list[str]:
  drop = [t for t in TRIALIGN_TASKS if t not in keep]
  return [f"DROP_TASKS={drop!r}"] if drop else []


class _Plan:
  """Collects stages and the (label, study, model_dir, data_dir, run) of each variant."""

  def __init__(self, out_dir: str, profile: pipeline.Profile, seed: int, steps: Optional[int]):
    self.out_dir, self.profile, self.seed, self.steps = out_dir, profile, seed, steps
    self.stages: list[pipeline.Stage] = []
    self.variants: list[dict] = []
    self._seen = set()

  def add(self, stage: pipeline.Stage) -> None:
    if stage.name not in self._seen:
      self._seen.add(stage.name)
      self.stages.append(stage)

  def variant(self, study: str, label: str, name: str, data_dir: str, method: str,
              tokenizer_run: Optional[str] = None, train_bindings: Sequence[str] = ()) -> None:
    """Train + evaluate one variant (its tokenizer stage must be added before)."""
    model_dir = os.path.join(self.out_dir, "runs", name)
    steps = self.steps or self.profile.train_steps[method]
    self.add(pipeline.train_stage(data_dir, model_dir, method, steps, self.seed, tokenizer_run,
                              train_bindings, name=f"train:{name}"))
    self.add(pipeline.evaluate_stage(model_dir, self.profile, (), name=f"evaluate:{name}", tsne="none"))
    self.variants.append({"study": study, "label": label, "name": name, "method": method,
                          "model_dir": model_dir, "data_dir": data_dir,
                          "tokenizer_run": tokenizer_run or method})


def _view_variant(plan: _Plan, data_dir: str, study: str, label: str, name: str,
                  enrich_args: Sequence[str], embed_args: Sequence[str] = ()) -> None:
  """A TriAlignGR variant with its own enrichment view -> embed -> tokenize -> train."""
  vdir = os.path.join(plan.out_dir, "variants", name)
  cmd = pipeline.gr_jax_command
  plan.add(pipeline.Stage(f"enrich:{name}", cmd("enrich", "--data", vdir, *enrich_args),
                          produces=layout.enrich_path(vdir, layout.ENRICH_VIEW)))
  plan.add(pipeline.Stage(f"embed:{name}", cmd("embed", "--data", vdir, *embed_args),
                          produces=layout.embeddings_path(vdir, layout.FUSED)))
  plan.add(pipeline.tokenize_stage(vdir, "trialign", plan.seed, name=f"tokenize:{name}"))
  plan.variant(study, label, name, vdir, "trialign")


def plan_ablation(data_dir: str, out_dir: str, studies: Sequence[str], profile: pipeline.Profile,
                  seed: int = 0, train_steps: Optional[int] = None,
                  noise: float = 0.3) -> _Plan:
  """Every stage and variant of the chosen studies (the full TriAlignGR run is shared)."""
  plan = _Plan(out_dir, profile, seed, train_steps)
  if {"tasks", "captions", "interests", "noise"} & set(studies):
    plan.add(pipeline.tokenize_stage(data_dir, "trialign", seed))
    plan.variant("reference", "TriAlignGR (all 8 tasks)", "trialign_full", data_dir, "trialign")
  if "tasks" in studies:
    keep: list[str] = []
    for i, (label, group) in enumerate(TASK_GROUPS[:-1]):  # The last group is the full run.
      keep += list(group)
      plan.variant("tasks", label, f"tasks_{i + 1}", data_dir, "trialign",
                   train_bindings=_drop_binding(keep))
  if "captions" in studies:
    _view_variant(plan, data_dir, "captions", "w/o CMSA captions", "no_captions",
                  ["--captions", "off"], ["--captions", "off"])
  if "interests" in studies:
    _view_variant(plan, data_dir, "interests", "w/o MDIM interests", "no_interests",
                  ["--interests", "off"], ["--interests", "off"])
  if "noise" in studies:
    _view_variant(plan, data_dir, "noise", f"noisy captions (p={noise:g})",
                  f"noise_{noise:g}", ["--caption_noise", str(noise)])
  if "macrec" in studies:
    plan.add(pipeline.tokenize_stage(data_dir, "macrec", seed))
    plan.variant("macrec", "MACRec", "macrec_full", data_dir, "macrec")
    plan.add(pipeline.tokenize_stage(data_dir, "macrec", seed, run="macrec_nocon",
                                 gin_bindings=MACREC_NO_CONTRASTIVE))
    plan.variant("macrec", "MACRec w/o contrastive losses", "macrec_nocon", data_dir, "macrec",
                 tokenizer_run="macrec_nocon")
  if "collab" in studies:
    plan.add(pipeline.collab_stage(data_dir, seed, profile.sasrec_epochs))
    for method, label in COLLAB_METHODS:
      plan.add(pipeline.tokenize_stage(data_dir, method, seed))
      plan.variant("collab", label, f"{method}_content", data_dir, method)
      plan.add(pipeline.tokenize_stage(data_dir, method, seed, run=f"{method}_collab",
                                       gin_bindings=pipeline.COLLAB_BINDINGS))
      plan.variant("collab", f"{label} + collaborative SIDs", f"{method}_collab", data_dir, method,
                   tokenizer_run=f"{method}_collab")
  return plan


def collect_rows(plan: _Plan) -> list[dict]:
  """One row per variant: metrics of its main system, SID collisions, train time."""
  rows = []
  for v in plan.variants:
    report = io_utils.read_json_or_empty(layout.eval_report_path(v["model_dir"]))
    info = io_utils.read_json_or_empty(os.path.join(v["model_dir"], layout.RUN_INFO))
    sid = io_utils.read_json_or_empty(layout.sid_report_path(v["data_dir"], v["tokenizer_run"]))
    systems = (report or {}).get("systems", {})
    key = f"{v['method']}:ensemble" if f"{v['method']}:ensemble" in systems else v["method"]
    metrics = systems.get(key) or next(iter(systems.values()), {})
    rows.append(dict(results_table.row(v["label"], metrics), study=v["study"], variant=v["name"],
                     collision_rate_before=results_table.collision_rate_before(sid),
                     collision_rate=results_table.collision_rate(sid),
                     train_seconds=info.get("train_time_s")))
  return rows


def plot_task_progression(rows: Sequence[dict], path: str) -> None:
  """HR@10 / NDCG@10 as task groups are added (TriAlignGR Fig. 3 layout)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  labels = [r["system"] for r in rows]
  fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rows)), 4))
  for metric, marker in (("HR@10", "o"), ("NDCG@10", "s")):
    ax.plot(range(len(rows)), [r.get(metric) or 0.0 for r in rows], marker=marker, label=metric)
  ax.set_xticks(range(len(rows)))
  ax.set_xticklabels(labels, rotation=15, ha="right", fontsize=8)
  ax.set_ylabel("test score (full ranking)")
  ax.set_title("TriAlignGR: tasks added incrementally")
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  with io_utils.atomic_open(path, "wb") as f:
    fig.savefig(f, format="png", dpi=120)
  plt.close(fig)


def write_report(out_dir: str, rows: Sequence[dict], stage_seconds: dict) -> str:
  """OUT/ablation.json, ablation.md and PNGs; returns the Markdown table."""
  results = {"rows": list(rows), "stage_seconds": stage_seconds}
  io_utils.atomic_write_json(os.path.join(out_dir, "ablation.json"), results)
  table = results_table.markdown(results)
  lines = ["# gr_jax ablations", "", table]
  results_table.plot(results, os.path.join(out_dir, "ablation.png"))
  lines += ["![HR@10 and NDCG@10 per variant](ablation.png)", ""]
  progression = [r for r in rows if r["study"] in ("tasks", "reference")]
  if len(progression) > 1:
    plot_task_progression(progression, os.path.join(out_dir, "task_progression.png"))
    lines += ["![tasks added incrementally](task_progression.png)", ""]
  io_utils.atomic_write_text(os.path.join(out_dir, "ablation.md"), "\n".join(lines) + "\n")
  return table


def _order(rows: Sequence[dict]) -> list[dict]:
  """Task progression first (SeqRec ... all 8 tasks), then the other studies."""
  rank = {s: i for i, s in enumerate(("tasks", "reference", "captions", "interests", "noise",
                                      "macrec", "collab"))}
  return sorted(rows, key=lambda r: rank.get(r["study"], 99))


def run_ablation(data_dir: str, out_dir: str, studies: Sequence[str] = STUDIES,
                 profile_name: str = "full", seed: int = 0, train_steps: Optional[int] = None,
                 noise: float = 0.3, log=print) -> list[dict]:
  """Runs (or resumes) the studies; returns the table rows."""
  data_dir, out_dir = os.path.abspath(data_dir), os.path.abspath(out_dir)
  for name in (layout.ITEMS, layout.SEQUENCES, os.path.join(layout.EMBEDDINGS_DIR, layout.FUSED)):
    if not os.path.exists(os.path.join(data_dir, name)):
      raise FileNotFoundError(f"{os.path.join(data_dir, name)} is missing: run gr-jax prepare, "
                              "enrich and embed on the dataset first (or gr-jax demo)")
  plan = plan_ablation(data_dir, out_dir, studies, pipeline.PROFILES[profile_name], seed,
                       train_steps, noise)
  for v in plan.variants:
    if v["data_dir"] != data_dir:
      make_variant_dir(data_dir, v["data_dir"])
  start = time.time()
  seconds = pipeline.Pipeline(out_dir, log=log).run_all(plan.stages)
  rows = _order(collect_rows(plan))
  write_report(out_dir, rows, dict(seconds, total=time.time() - start))
  return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Registers the `gr-jax ablate` flags."""
  parser.add_argument("--data", required=True,
                      help="Dataset dir after prepare/enrich/embed (e.g. demo_out/data).")
  parser.add_argument("--out", default="ablate_out", help="Output dir: variants/, runs/, ablation.md.")
  parser.add_argument("--studies", default=",".join(STUDIES),
                      help=f"Comma-separated subset of {','.join(STUDIES)}.")
  parser.add_argument("--profile", choices=sorted(pipeline.PROFILES), default="full",
                      help="Train steps / evaluation users per variant (as gr-jax demo).")
  parser.add_argument("--train_steps", type=int, default=None, help="Train steps of every variant.")
  parser.add_argument("--noise", type=float, default=0.3, help="Caption-noise fraction p.")
  parser.add_argument("--seed", type=int, default=0)


def main(args) -> int:
  """Entry point of `gr-jax ablate`."""
  studies = [s.strip() for s in args.studies.split(",") if s.strip()]
  unknown = sorted(set(studies) - set(STUDIES))
  if unknown or not studies:
    raise SystemExit(f"--studies: unknown or empty {unknown}; choose from {list(STUDIES)}")
  if not 0.0 <= args.noise <= 1.0:
    raise SystemExit(f"--noise must be in [0, 1], got {args.noise}")
  try:
    rows = run_ablation(args.data, args.out, studies, args.profile, args.seed, args.train_steps,
                        args.noise)
  except pipeline.StageFailed as e:
    print(f"gr-jax ablate: {e}\nRerun the same command to resume.")
    return 1
  print()
  print(results_table.markdown({"rows": rows}))
  print(f"report: {os.path.join(args.out, 'ablation.md')}")
  return 0
