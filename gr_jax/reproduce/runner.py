"""The stages of one `gr-jax reproduce` row: check -> prepare -> SIDs -> train/curve -> test -> report.

prepare and the peer-SID import run in this process (plain Python, each with its own done
marker); training, the learning-curve points and the test ranking run as `pipeline.Stage`
subprocesses, recorded in OUT/pipeline_state.json, so a rerun after a kill resumes at the
stage (and the training checkpoint) it stopped in. reproduce.json is written last: it exists
only for a finished row.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Callable, Optional

from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import sids as sids_lib
from gr_jax.reproduce import budget as budget_lib
from gr_jax.reproduce import peer_sids
from gr_jax.reproduce import published
from gr_jax.reproduce import registry
from gr_jax.reproduce import report
from gr_jax.runs import pipeline

ReproduceError = registry.ReproduceError
ARGS_FILE = "reproduce_args.json"
DATASET_NAME = "repro"


@dataclasses.dataclass
class Options:
  """The flags of one row (see cli.py for their help)."""
  paper: str
  dataset: str
  method: str
  raw_dir: str
  out: str
  budget: str = "paper"
  sids: str = "peer"
  duplicates: str = "peer"
  seeds: Optional[int] = None
  scale: Optional[float] = None
  train_steps: Optional[int] = None
  curve_points: Optional[int] = None
  curve_users: int = 1000
  test_users: Optional[int] = None
  allow_other_split: bool = False
  gin_bindings: tuple = ()  # Extra `NAME=VALUE` gin bindings of training (a changed row).
  tokenize_gin: tuple = ()  # Extra gin bindings of the tokenizer (--sids ours).

  def signature(self) -> dict:
    sig = dataclasses.asdict(self)
    sig["raw_dir"], sig["out"] = os.path.abspath(self.raw_dir), os.path.abspath(self.out)
    sig["gin_bindings"] = list(self.gin_bindings)
    sig["tokenize_gin"] = list(self.tokenize_gin)
    return sig


def check_inputs(opts: Options):
  """(paper, dataset, method) after checking flags and files; raises ReproduceError."""
  paper = registry.paper(opts.paper)
  ds = registry.dataset(opts.paper, opts.dataset)
  method = registry.method(opts.paper, opts.method)
  registry.require_files(opts.raw_dir, ds, ds.files, "the interactions")
  if method.kind != "generative":
    return paper, ds, method
  if opts.sids == "peer":
    if opts.method == "macrec":
      raise ReproduceError("--sids peer: MACRec's cross-modal SIDs were not published; use "
                           "--sids ours with the peer's embeddings (.npy)")
    missing = [m for m in method.modalities if m not in ds.peer_sids]
    if missing:
      raise ReproduceError(f"--sids peer: no published {'/'.join(missing)} SIDs for "
                           f"{ds.name}; use --sids ours")
    registry.require_files(opts.raw_dir, ds, [ds.peer_sids[m] for m in method.modalities],
                           "the peer's SIDs for --sids peer")
  elif opts.sids == "collab" and not ds.ours_files:
    if opts.method != "tiger":
      raise ReproduceError(f"--sids collab: {opts.dataset} has no item content, so only the "
                           "TIGER row (one SID from the collaborative embeddings alone); "
                           f"--method {opts.method} needs item text or images")
  else:
    mods = ("text",) if method.modalities == ("fused",) else method.modalities
    missing = [m for m in mods if m not in ds.ours_files]
    if missing:
      raise ReproduceError(f"--sids {opts.sids}: {ds.name} has no {'/'.join(missing)} input for "
                           "gr_jax's tokenizer")
    registry.require_files(opts.raw_dir, ds, [ds.ours_files[m] for m in mods],
                           f"item text/embeddings for --sids {opts.sids}")
  return paper, ds, method


def _prepare(opts: Options, ds: registry.Dataset, data_dir: str, max_history: int, log) -> dict:
  """`gr-jax prepare --source <peer>` in process (skipped when already done with these flags)."""
  from gr_jax.data import prepare  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser()
  prepare.add_arguments(parser)
  args = parser.parse_args(["--source", ds.source, "--raw_dir", opts.raw_dir, "--dataset",
                            ds.name, "--out", data_dir, "--max_history", str(max_history),
                            "--quiet"] + (["--no_item_text"] if ds.source == "lcrec" else []))
  try:
    stats = prepare.prepare(args)
  except io_utils.BadInputError as e:
    raise ReproduceError(f"bad input: {e}") from e
  except (FileNotFoundError, SystemExit) as e:
    raise ReproduceError(f"prepare: {e}") from e
  log(f"prepare: {stats['users']} users, {stats['items']} items, "
      f"{stats['interactions']} interactions -> {data_dir}")
  return stats


def _split_check(opts: Options, stats: dict) -> dict:
  paper_stats = published.dataset_stats(opts.paper, opts.dataset)
  ours = {k: int(stats[k]) for k in ("users", "items", "interactions")}
  mismatch = {k: (ours[k], v) for k, v in paper_stats.items() if ours.get(k) != v}
  out = dict(ours, source=stats.get("source"), mismatch=bool(mismatch),
             paper=", ".join(f"{k} {v}" for k, v in paper_stats.items()) or None)
  if mismatch and not opts.allow_other_split:
    detail = ", ".join(f"{k} {a} vs {b}" for k, (a, b) in mismatch.items())
    raise ReproduceError(f"--raw_dir {opts.raw_dir}: the split differs from {opts.paper}'s "
                         f"Table 1 for {opts.dataset} ({detail}); pass --allow_other_split "
                         "to run it anyway")
  return out


def _peer_sids(opts: Options, ds, method, data_dir: str, log) -> tuple[str, dict]:
  run = f"peer_{opts.duplicates}"
  files = {m: registry.file_path(opts.raw_dir, ds, ds.peer_sids[m]) for m in method.modalities}
  path = layout.sids_path(data_dir, run)
  marker = os.path.join(layout.tokenizer_dir(data_dir, run), "import_done.json")
  sig = {"files": {m: [os.path.abspath(p), os.path.getsize(p)] for m, p in files.items()},
         "policy": opts.duplicates}
  if not (os.path.exists(path) and io_utils.read_json_or_empty(marker).get("sig") == sig):
    if os.path.exists(marker):
      os.remove(marker)
    try:
      peer_sids.write(files, data_dir, run, opts.duplicates)
    except io_utils.BadInputError as e:
      raise ReproduceError(f"bad SIDs: {e}") from e
    io_utils.atomic_write_json(marker, {"sig": sig})
  doc = sids_lib.load_sids(path)
  log(f"SIDs: {run} from {', '.join(files.values())}")
  return run, {"kind": "peer", "policy": opts.duplicates, "run": run,
               "report": doc.get("duplicate_report"),
               "levels": {m: len(s["prefixes"]) for m, s in sids_lib.read_layout(path).items()}}


def tokenizer_step_cap(opts: Options, macros: dict) -> Optional[int]:
  """RQ-VAE step cap of --sids ours: CPU_TOKENIZER_STEPS under --budget cpu, unless the user's
  --tokenize_gin sets the tokenizer's epochs or max_steps (then theirs holds); else None."""
  if opts.budget != "cpu" or not macros.get("CPU_TOKENIZER_STEPS"):
    return None
  if any(x.replace(" ", "").split("=")[0].endswith(("TokenizerConfig.epochs",
                                                     "TokenizerConfig.max_steps"))
         for x in opts.tokenize_gin):
    return None
  return int(macros["CPU_TOKENIZER_STEPS"])


def tokenizer_budget(data_dir: str, run: str) -> dict:
  """{steps trained, steps of the tokenizer gin's own epochs, epochs} of a finished tokenizer."""
  doc = io_utils.read_json_or_empty(os.path.join(layout.tokenizer_dir(data_dir, run),
                                                 "config.json"))
  cfg, n = doc.get("config") or {}, int((doc.get("input") or {}).get("n_items") or 0)
  out = {"steps": doc.get("steps"), "config_epochs": cfg.get("epochs"), "max_steps": cfg.get("max_steps")}
  if n and cfg.get("epochs") and cfg.get("batch_size"):
    out["config_steps"] = int(cfg["epochs"]) * max(n // max(1, min(int(cfg["batch_size"]), n)), 1)
  return out


def collaborative_mode(opts: Options, ds) -> Optional[str]:
  """TokenizerConfig.collaborative of the row: None (--sids ours), 'concat' (--sids collab on
  a dataset with item content: [content | SASRec item embedding]) or 'replace' (no content)."""
  if opts.sids != "collab":
    return None
  return "concat" if ds.ours_files else "replace"


def _our_sid_stages(opts: Options, ds, method, data_dir: str, macros: dict):
  """[enrich ->] [embed ->] [collab-embed ->] tokenize stages of --sids ours / collab."""
  cmd = pipeline.gr_jax_command
  stages = []
  collab = collaborative_mode(opts, ds)
  if collab != "replace":
    embed = ["embed", "--data", data_dir]
    if ds.ours_files.get("text", "").endswith(".npy"):  # The peer's precomputed embeddings.
      for mod in method.modalities:
        embed += [f"--{mod}_backend", "precomputed", f"--{mod}_npy",
                  registry.file_path(opts.raw_dir, ds, ds.ours_files[mod]), f"--{mod}_ids",
                  "index"]
    else:
      stages.append(pipeline.Stage("enrich", cmd("enrich", "--data", data_dir),
                                   produces=layout.enrich_path(data_dir, layout.INTERESTS)))
    stages.append(pipeline.Stage("embed", cmd(*embed),
                                 produces=layout.embeddings_path(data_dir, layout.EMBED_IDS)))
  run = "collab" if collab else "ours"
  tokenize = ["tokenize", "--data", data_dir, "--gin_file", macros["TOKENIZE_GIN"], "--run", run]
  if collab:
    # SASRec item embeddings of the train split only (the leakage rule: gr_jax.baselines.collab).
    stages.append(pipeline.Stage("collab-embed", cmd("collab-embed", "--data", data_dir),
                                 produces=layout.embeddings_path(data_dir, layout.COLLAB)))
    tokenize += ["--gin_file", "rqvae/collab.gin",
                 f"--gin.TokenizerConfig.collaborative='{collab}'"]
  cap = tokenizer_step_cap(opts, macros)
  if cap:
    tokenize.append(f"--gin.TokenizerConfig.max_steps={cap}")
  tokenize += [f"--gin.{x}" for x in opts.tokenize_gin]
  stages.append(pipeline.Stage("tokenize", cmd(*tokenize),
                               produces=layout.sids_path(data_dir, run)))
  return stages


def _sid_lengths(data_dir: str, run: str) -> list[int]:
  return [len(s["prefixes"]) for s in sids_lib.read_layout(layout.sids_path(data_dir, run)).values()]


def _train_argv(gin_file, model_dir, data_dir, run, b, seed, lengths, stop_at: Optional[int],
                bindings=()):
  interval = budget_lib.checkpoint_period(b.curve_steps)
  argv = ["train", "--gin_file", gin_file, f"--gin.MODEL_DIR='{model_dir}'",
          f"--gin.DATA_DIR='{data_dir}'", f"--gin.DATASET_NAME='{DATASET_NAME}'",
          f"--gin.TRAIN_STEPS={b.train_steps}", f"--gin.WARMUP_STEPS={b.warmup_steps}",
          f"--gin.BATCH_SIZE={b.batch_size}",
          f"--gin.SEED={seed}", f"--gin.TOKENIZER_RUN='{run}'",
          f"--gin.TASK_FEATURE_LENGTHS={lengths!r}",
          f"--gin.gr_jax.train.train.checkpoint_period={interval}",
          "--gin.gr_jax.train.train.eval_period=0"]
  argv += [f"--gin.{x}" for x in bindings]
  if stop_at is not None:
    argv.append(f"--gin.gr_jax.train.train.stop_at_step={stop_at}")
  return pipeline.gr_jax_command(*argv)


def _rank_argv(*args: str) -> list[str]:
  return [sys.executable, "-m", "gr_jax.reproduce.rank", *args]


def _generative_stages(opts, method, gin_file, data_dir, run, b, lengths, seed_dir, seed):
  """Per curve point: train to it (a checkpoint there), rank valid users; the last point
  also ranks the test users in the same process."""
  model_dir = os.path.join(seed_dir, "model")
  normalize = "length" if opts.method == "mql4grec" else "softmax"
  stages = []
  for step in b.curve_steps:
    last = step == b.train_steps
    stages.append(pipeline.Stage(
        f"seed{seed}:train@{step}",
        _train_argv(gin_file, model_dir, data_dir, run, b, seed, lengths, None if last else step,
                    opts.gin_bindings),
        produces=os.path.join(model_dir, layout.RUN_INFO)))
    argv = ["model", "--model_dir", model_dir, "--step", str(step), "--beam_size",
            str(b.beam_size), "--normalize", normalize, "--valid_users", str(opts.curve_users),
            "--valid_out", os.path.join(seed_dir, f"valid_{step}.json")]
    if last:
      argv += ["--test_out", os.path.join(seed_dir, "test.json")]
      if opts.test_users:
        argv += ["--test_users", str(opts.test_users)]
    stages.append(pipeline.Stage(
        f"seed{seed}:" + ("valid+test" if last else "valid") + f"@{step}", _rank_argv(*argv),
        produces=os.path.join(seed_dir, "test.json" if last else f"valid_{step}.json")))
  return stages


def _sasrec_stage(opts, gin_file, data_dir, b, seed_dir, seed, epochs):
  argv = ["sasrec", "--data", data_dir, "--gin_file", gin_file, "--seed", str(seed),
          "--epochs", str(epochs), "--out", os.path.join(seed_dir, "test.json")]
  if opts.test_users:
    argv += ["--max_users", str(opts.test_users)]
  for x in opts.gin_bindings:
    argv += ["--gin", x]
  return [pipeline.Stage(f"seed{seed}:sasrec", _rank_argv(*argv),
                         produces=os.path.join(seed_dir, "test.json"))]


def _check_out(opts: Options) -> None:
  """One OUT holds one row: another row's flags there are an error (nothing is mixed)."""
  os.makedirs(opts.out, exist_ok=True)
  path = os.path.join(opts.out, ARGS_FILE)
  sig = opts.signature()
  if os.path.exists(path):
    old = io_utils.read_json(path)
    keys = ("paper", "dataset", "method", "raw_dir", "budget", "sids", "duplicates", "scale",
            "train_steps", "curve_points", "gin_bindings", "tokenize_gin")
    changed = [k for k in keys if old.get(k) != sig.get(k)]
    if changed:
      raise ReproduceError(f"--out {opts.out}: holds a run with other flags "
                           f"({', '.join(f'--{k} {old.get(k)}' for k in changed)}); "
                           "use a new --out")
  io_utils.atomic_write_json(path, sig)


def run(opts: Options, log: Callable[[str], None] = print) -> dict:
  """Runs (or resumes) one row; returns the reproduce.json document."""
  opts.raw_dir, opts.out = os.path.abspath(opts.raw_dir), os.path.abspath(opts.out)
  paper, ds, method = check_inputs(opts)
  gin_file = budget_lib.gin_path(opts.paper, opts.method)
  macros = budget_lib.read_macros(gin_file, opts.gin_bindings)
  if any(x.replace(" ", "").startswith("BATCH_SIZE=") for x in opts.gin_bindings):
    macros["CPU_BATCH_SIZE"] = None  # The user's batch holds at every budget.
  _check_out(opts)
  for name in (report.JSON, report.MD):  # Rewritten at the end: stale ones must not look done.
    if os.path.exists(os.path.join(opts.out, name)):
      os.remove(os.path.join(opts.out, name))
  data_dir = os.path.join(opts.out, "data")
  stats = _prepare(opts, ds, data_dir, int(macros.get("MAX_HISTORY") or layout.MAX_HISTORY), log)
  split = _split_check(opts, stats)
  pipe = pipeline.Pipeline(opts.out, log=log)
  sid_info, run_name, lengths, sid_seconds = None, None, None, {}
  if method.kind == "generative":
    if opts.sids == "peer":
      run_name, sid_info = _peer_sids(opts, ds, method, data_dir, log)
    else:
      run_name = "collab" if opts.sids == "collab" else "ours"
      try:
        sid_seconds = pipe.run_all(_our_sid_stages(opts, ds, method, data_dir, macros))
      except pipeline.StageFailed as e:
        raise ReproduceError(f"{e}; rerun the same command to resume") from e
      sid_info = {"kind": opts.sids, "policy": "gr_jax tokenizer", "run": run_name,
                  "collaborative": collaborative_mode(opts, ds),
                  "gin": macros["TOKENIZE_GIN"],
                  "tokenizer_budget": tokenizer_budget(data_dir, run_name)}
    lengths = budget_lib.feature_lengths(macros, _sid_lengths(data_dir, run_name))
    examples = budget_lib.examples_per_epoch(method.train_method, stats["train_examples"],
                                             stats["items"])
  else:
    examples = stats["train_examples"]
  b = budget_lib.plan(macros, opts.budget, examples, opts.scale, opts.train_steps, opts.seeds,
                      opts.curve_points)
  sasrec_epochs = None
  if method.kind == "sasrec":
    sasrec_epochs = max(1, round(b.paper_epochs * b.scale)) if not opts.train_steps \
        else int(opts.train_steps)
    b.scale = sasrec_epochs / b.paper_epochs
  log(f"budget {b.kind}: scale {b.scale:.4g}, {b.train_steps} steps x {b.batch_size}, "
      f"{b.seeds} seed(s)" if method.kind == "generative" else
      f"budget {b.kind}: SASRec up to {sasrec_epochs} epochs, {b.seeds} seed(s)")
  stages = []
  for seed in range(b.seeds):
    seed_dir = os.path.join(opts.out, f"seed_{seed}")
    if method.kind == "generative":
      stages += _generative_stages(opts, method, gin_file, data_dir, run_name, b, lengths,
                                   seed_dir, seed)
    else:
      stages += _sasrec_stage(opts, gin_file, data_dir, b, seed_dir, seed, sasrec_epochs)
  try:
    seconds = dict(sid_seconds, **pipe.run_all(stages))
  except pipeline.StageFailed as e:
    raise ReproduceError(f"{e}; rerun the same command to resume") from e
  return _finish(opts, paper, method, gin_file, b, split, sid_info, seconds)


def _sources(rows) -> Optional[str]:
  """'<source> lines 503, 504, ...' for published rows whose sources differ only in the line."""
  by_source: dict[str, list[str]] = {}
  for r in rows:
    head, _, line = r.source.rpartition(" line ")
    by_source.setdefault(head or r.source, []).append(line)
  return "; ".join(f"{s} lines {', '.join(sorted(set(l)))}" if any(l) else s
                   for s, l in by_source.items()) or None


def _prepare_seconds(out: str) -> float:
  from gr_jax.data import prepare  # pylint: disable=g-import-not-at-top
  return float(io_utils.read_json_or_empty(
      os.path.join(out, "data", prepare.DONE_MARKER)).get("seconds") or 0.0)


def _finish(opts, paper, method, gin_file, b, split, sid_info, seconds) -> dict:
  """Collects the seeds' rank files into reproduce.json/md and the learning curve."""
  rank_docs, curves = {}, {}
  for seed in range(b.seeds):
    seed_dir = os.path.join(opts.out, f"seed_{seed}")
    rank_docs[seed] = io_utils.read_json(os.path.join(seed_dir, "test.json"))
    if method.kind == "sasrec":
      curves[seed] = rank_docs[seed]["curve"]
    else:
      curves[seed] = []
      for step in b.curve_steps:
        v = io_utils.read_json(os.path.join(seed_dir, f"valid_{step}.json"))
        curves[seed].append({"step": step, "examples_seen": step * b.batch_size,
                             "valid_hr10": v["metrics"][v["row"]]["HR@10"], "users": v["users"]})
  if method.kind == "sasrec":  # What SASRec really trained (early stopping).
    b.examples_seen = int(sum(d["examples_seen"] for d in rank_docs.values()) / len(rank_docs))
    b.epochs = sum(d["epochs_run"] for d in rank_docs.values()) / len(rank_docs)
    b.examples_per_epoch = rank_docs[0]["windows_per_epoch"]
    b.train_steps = int(b.examples_seen / max(rank_docs[0]["config"]["batch_size"], 1))
    b.batch_size = rank_docs[0]["config"]["batch_size"]
  pub = published.lookup(opts.paper, opts.dataset, opts.method)
  metrics, systems = report.summarize_seeds(rank_docs, {k: r.value for k, r in pub.items()})
  device = rank_docs[0].get("device") or {}
  train_s = sum(v for k, v in seconds.items() if "train" in k or "sasrec" in k)
  doc = {
      "complete": True,
      "row": {"paper": opts.paper, "paper_title": paper.title, "table": paper.table,
              "dataset": opts.dataset, "method": opts.method,
              "published_source": _sources(pub.values()),
              "published_note": "the paper publishes no number for it" if opts.paper != "trialign"
              else "TriAlignGR publishes no numeric table"},
      "raw_dir": opts.raw_dir, "gin_file": gin_file, "flags": opts.signature(),
      "split": split, "sid_info": sid_info, "budget": b.to_json(),
      "test_users": rank_docs[0]["users"], "seeds": list(rank_docs),
      "metrics": metrics, "systems": systems, "curves": curves,
      "stage_seconds": seconds,
      # Every stage's own time (also those finished by an earlier, resumed invocation).
      "wall_seconds": sum(seconds.values()) + _prepare_seconds(opts.out),
      "train_seconds": train_s,
      "device": f"{device.get('count', 1)} x {device.get('device_kind', '?')} "
                f"({device.get('platform', '?')}), {os.cpu_count()} host CPUs",
  }
  report.plot_curve(curves, os.path.join(opts.out, report.CURVE_PNG),
                    f"{opts.paper} {opts.dataset} {opts.method} ({b.kind} budget)")
  report.write(opts.out, doc)
  return doc
