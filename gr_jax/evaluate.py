"""Leave-one-out full-ranking evaluation (HR/NDCG/MRR), generation-task scores, baselines, report."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import string
import time
from typing import Mapping, Optional, Sequence

import numpy as np

from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import schema

HR_KS = (1, 5, 10)
NDCG_KS = (5, 10)
# Generation tasks scored by what their target is.
TITLE_TASKS = ("seqrec_title", "sid2title", "visdesc2title")
TAG_TASKS = ("sid2interest",)
SID_TASKS = ("title2sid", "content2sid", "visdesc2sid", "text2image", "image2text",
             "text_hist2image", "image_hist2text")
REPORT_JSON, REPORT_MD = "report.json", "report.md"


# ----------------------------------------------------------------------------- ranking metrics


def target_ranks(predictions_UxK, targets_U) -> np.ndarray:
  """0-based position of each target in its ranked list, -1 when absent (or the target is None)."""
  ranks = np.full(len(targets_U), -1, np.int64)
  for u, (row, target) in enumerate(zip(predictions_UxK, targets_U)):
    if target is None:
      continue
    for pos, item in enumerate(row):
      if item == target:
        ranks[u] = pos
        break
  return ranks


def per_user_metric(ranks_U, metric: str) -> np.ndarray:
  """[U] float64 value of 'HR@K' (target in the top K) or 'NDCG@K' (1 / log2(rank + 2) inside
  the top K; one relevant item, so IDCG = 1) for each user, from 0-based ranks (-1 = miss)."""
  ranks = np.asarray(ranks_U, np.float64)
  name, k = metric.split("@")
  hit = (ranks >= 0) & (ranks < int(k))
  if name == "HR":
    return hit.astype(np.float64)
  if name == "NDCG":
    return np.where(hit, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)
  raise ValueError(f"unknown metric {metric!r}")


def ranking_metrics(ranks_U, hr_ks: Sequence[int] = HR_KS, ndcg_ks: Sequence[int] = NDCG_KS,
                    mrr_k: Optional[int] = None) -> dict:
  """Means over users of `per_user_metric` for HR@K / NDCG@K, and MRR = 1 / (rank + 1) inside
  the top `mrr_k` (default max K)."""
  ranks = np.asarray(ranks_U)
  hit = ranks >= 0
  out = {}
  for name, ks in (("HR", hr_ks), ("NDCG", ndcg_ks)):
    for k in ks:
      out[f"{name}@{k}"] = float(np.mean(per_user_metric(ranks, f"{name}@{k}"))) \
          if len(ranks) else 0.0
  mrr_k = mrr_k or max(list(hr_ks) + list(ndcg_ks))
  rr = np.where(hit & (ranks < mrr_k), 1.0 / (np.maximum(ranks, 0) + 1.0), 0.0)
  out["MRR"] = float(np.mean(rr)) if len(ranks) else 0.0
  out["n"] = int(len(ranks))
  return out


PAIRED_METRICS = ("HR@10", "NDCG@10")


def users_digest(user_ids: Sequence[str]) -> str:
  """A short digest of an ordered list of users: equal digests mean rank lists can be paired."""
  return hashlib.sha1("\n".join(user_ids).encode("utf-8")).hexdigest()[:16]


def standard_error(values) -> float:
  """Standard error of the mean, std(ddof=1) / sqrt(n); NaN for fewer than two values."""
  v = np.asarray(values, np.float64)
  return float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")


def paired_differences(ranks_by_system: Mapping[str, np.ndarray], baselines: Sequence[str],
                       metrics: Sequence[str] = PAIRED_METRICS) -> dict:
  """{system: {baseline: {metric: {"diff", "se", "n"}}}} for every non-baseline system.

  `diff` is the mean over the same users of system minus baseline, `se` the standard error
  of that mean (std of the per-user differences / sqrt(n)): pairing removes the between-user
  variance that two separate standard errors would count twice.
  """
  out = {}
  for name, ranks in ranks_by_system.items():
    if name in baselines:
      continue
    for base in baselines:
      if base not in ranks_by_system:
        continue
      for metric in metrics:
        d = per_user_metric(ranks, metric) - per_user_metric(ranks_by_system[base], metric)
        out.setdefault(name, {}).setdefault(base, {})[metric] = {
            "diff": float(d.mean()) if len(d) else float("nan"), "se": standard_error(d),
            "n": int(len(d))}
  return out


def sid_beam_metrics(targets: Sequence[str], predictions: Sequence) -> dict:
  """seqio metric fn of the next-item SID tasks: HR@1/5/10, NDCG@5/10, MRR of decoded beams.

  `predictions[u]` holds example u's decoded beams in T5X's order, best last (T5X
  with `DecoderParams.return_all_decodes`), or one string when only the top beam
  was kept. Empty strings (beams that reached no catalog SID) are dropped and the
  rest is ranked best first, exactly as `evaluate` ranks catalog items.
  """
  rows = []
  for beams in predictions:
    beams = [beams] if isinstance(beams, str) else list(beams)
    rows.append([b for b in reversed(beams) if b])
  out = ranking_metrics(target_ranks(rows, list(targets)))
  del out["n"]
  return out


def metric_curves(ranks_U, max_k: int) -> dict:
  """{"HR": [HR@1..HR@max_k], "NDCG": [...]} for metric-vs-K plots."""
  ranks = np.asarray(ranks_U)
  hit = ranks >= 0
  gain = np.where(hit, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)
  n = max(len(ranks), 1)
  return {"HR": [float((hit & (ranks < k)).sum() / n) for k in range(1, max_k + 1)],
          "NDCG": [float(np.where(ranks < k, gain, 0.0).sum() / n) for k in range(1, max_k + 1)]}


# ----------------------------------------------------------------------------- generation metrics

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")


def normalize_text(text: str) -> str:
  """Lower case, punctuation to spaces, single spaces (SQuAD-style, without article removal)."""
  return " ".join(_PUNCT.sub(" ", text.lower()).split())


def token_f1(prediction: str, target: str) -> float:
  """Bag-of-words F1 between normalised texts (1.0 when both are empty)."""
  p, t = normalize_text(prediction).split(), normalize_text(target).split()
  if not p or not t:
    return float(p == t)
  common = sum(min(p.count(w), t.count(w)) for w in set(p))
  if not common:
    return 0.0
  precision, recall = common / len(p), common / len(t)
  return 2 * precision * recall / (precision + recall)


def tag_set(text: str) -> set[str]:
  """Comma-separated interest tags -> set of normalised tags."""
  return {normalize_text(t) for t in text.split(",") if normalize_text(t)}


def tag_f1(prediction: str, target: str) -> float:
  """F1 between the predicted and target sets of interest tags."""
  p, t = tag_set(prediction), tag_set(target)
  if not p or not t:
    return float(p == t)
  common = len(p & t)
  if not common:
    return 0.0
  precision, recall = common / len(p), common / len(t)
  return 2 * precision * recall / (precision + recall)


def title_scores(predictions: Sequence[str], targets: Sequence[str]) -> dict:
  """Exact match (after normalisation) and mean token F1."""
  n = len(targets)
  em = sum(normalize_text(p) == normalize_text(t) for p, t in zip(predictions, targets))
  f1 = sum(token_f1(p, t) for p, t in zip(predictions, targets))
  return {"exact_match": em / max(n, 1), "token_f1": f1 / max(n, 1), "n": n}


def tag_scores(predictions: Sequence[str], targets: Sequence[str]) -> dict:
  """Mean interest-tag F1 and exact set match."""
  n = len(targets)
  return {"tag_f1": sum(tag_f1(p, t) for p, t in zip(predictions, targets)) / max(n, 1),
          "exact_match": sum(tag_set(p) == tag_set(t) for p, t in zip(predictions, targets)) / max(n, 1),
          "n": n}


# ----------------------------------------------------------------------------- systems


def split_examples(data_dir: str, split: str, max_users: Optional[int] = None):
  """Examples of a leave-one-out split ('valid'/'validation' or 'test'), optionally the first N."""
  examples = list(schema.read_split(data_dir, "valid" if split == "validation" else split))
  return examples[:max_users] if max_users else examples


BASELINE_NAMES = ("popularity", "sasrec", "markov")


def baseline_predictions(data_dir: str, examples, item_ids: Sequence[str], top_k: int,
                         names: Sequence[str] = BASELINE_NAMES, sasrec_config=None,
                         cache_dir: Optional[str] = None, progress: bool = True) -> dict:
  """{name: [U, top_k] catalog indices} of the classical baselines on the same users."""
  from gr_jax import baselines  # pylint: disable=g-import-not-at-top
  from gr_jax.baselines import markov, popularity, sasrec  # pylint: disable=g-import-not-at-top
  train = baselines.train_sequences(data_dir)
  out = {}
  for name in names:
    if name == "popularity":
      out[name] = popularity.Popularity(item_ids).fit(train).predict(len(examples), top_k)
    elif name == "sasrec":
      rec = _fit_sasrec(data_dir, train, item_ids, sasrec_config or sasrec.SASRecConfig(),
                        cache_dir, progress)
      out[name] = rec.predict([ex.history for ex in examples], top_k)
    elif name == "markov":
      categories = markov.leaf_categories(schema.load_items(data_dir), item_ids)
      out[name] = markov.CategoryMarkov(item_ids, categories).fit(train).predict(
          [ex.history for ex in examples], top_k)
    else:
      raise ValueError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINE_NAMES)}")
  return out


def _fit_sasrec(data_dir, train, item_ids, config, cache_dir, progress):
  """Trains SASRec (early stopping on the valid split), cached in `cache_dir` by data + config."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  import flax.serialization  # pylint: disable=g-import-not-at-top
  from gr_jax.baselines import sasrec  # pylint: disable=g-import-not-at-top
  rec = sasrec.SASRecRecommender(item_ids, config)
  split_file = schema.split_path(data_dir, "train")
  key = {"config": dataclasses.asdict(config), "items": len(item_ids),
         "train": [os.path.getsize(split_file), os.stat(split_file).st_mtime_ns]}
  meta_path = os.path.join(cache_dir, "sasrec.json") if cache_dir else None
  params_path = os.path.join(cache_dir, "sasrec.msgpack") if cache_dir else None
  if meta_path and os.path.exists(meta_path) and os.path.exists(params_path):
    if io_utils.read_json(meta_path).get("key") == key:
      with open(params_path, "rb") as f:
        rec.params = flax.serialization.from_bytes(rec.init(), f.read())
      return rec
  valid = split_examples(data_dir, "valid")
  rec.fit(train, valid=([ex.history for ex in valid], [ex.target for ex in valid]), progress=progress)
  if cache_dir:
    with io_utils.atomic_open(params_path, "wb") as f:
      f.write(flax.serialization.to_bytes(rec.params))
    io_utils.atomic_write_json(meta_path, {"key": key, "history": rec.history})
  return rec


def _sid_task_modality(recommender, targets: Sequence[str]) -> Optional[str]:
  """The modality whose SIDs contain the task's targets."""
  for mod, cat in recommender.catalogs.items():
    values = set(cat.sid_strings.values())
    if targets and targets[0] in values:
      return mod
  return None


def generation_scores(recommender, split: str, tasks: Sequence[str], max_examples: Optional[int],
                      text_beam: int = 1) -> dict:
  """Per-task scores of the non-seqrec tasks on their validation/test examples."""
  from gr_jax_tasks import registry, sources  # pylint: disable=g-import-not-at-top
  info = recommender.run_info
  cfg = sources.DatasetConfig(name=info.get("dataset_name") or "eval", data_dir=recommender.data_dir,
                              method=recommender.method, tokenizer_run=recommender.tokenizer_run,
                              max_history=recommender.max_history,
                              compact_history=recommender.compact_history)
  out = {}
  for task in tasks:
    records = registry.examples(cfg, task, "validation" if split in ("valid", "validation") else split)
    records = records[:max_examples] if max_examples else records
    if not records:
      continue
    inputs = [r["inputs"] for r in records]
    targets = [r["targets"] for r in records]
    if task in SID_TASKS:
      mod = _sid_task_modality(recommender, targets)
      if mod is None:
        continue
      items, _ = recommender.decode_sids(inputs, mod, desc=task, task=task)
      wanted = [recommender.item_index.get(r["target_item_id"]) for r in records]
      out[task] = dict(ranking_metrics(target_ranks(items, wanted)), modality=mod)
    else:
      preds = recommender.decode_texts(inputs, beam_size=text_beam, desc=task, task=task)
      out[task] = tag_scores(preds, targets) if task in TAG_TASKS else title_scores(preds, targets)
      out[task]["examples"] = [{"input": i, "target": t, "prediction": p}
                               for i, t, p in list(zip(inputs, targets, preds))[:5]]
  return out


def _tsne_plots(recommender, out_dir: str, method: str, max_points: int) -> dict:
  """t-SNE of `embeddings/<modality>.npy` per SID modality, coloured by the first SID level."""
  from gr_jax.reports import eval_plots  # pylint: disable=g-import-not-at-top
  emb_dir = os.path.join(recommender.data_dir, layout.EMBEDDINGS_DIR)
  ids_path = os.path.join(emb_dir, layout.EMBED_IDS)
  out = {}
  for mod, cat in recommender.catalogs.items():
    path = os.path.join(emb_dir, f"{mod}.npy")
    if not (os.path.exists(path) and os.path.exists(ids_path)):
      out[mod] = {"skipped": f"no {path}"}
      continue
    with open(ids_path, encoding="utf-8") as f:
      ids = [line.strip() for line in f if line.strip()]
    emb = np.load(path)
    if len(ids) != len(emb):
      raise io_utils.BadInputError(ids_path, None, None, f"{len(ids)} ids but {len(emb)} rows in {path}")
    first = {recommender.item_ids[c]: int(t) for c, t in zip(cat.catalog_index, cat.tokens_NxL[:, 0])}
    keep = [n for n, i in enumerate(ids) if i in first]
    codes = np.array([first[ids[n]] for n in keep]) - int(cat.tokens_NxL[:, 0].min())
    png = os.path.join(out_dir, f"tsne_{mod}.png")
    out[mod] = eval_plots.embedding_plot(emb[keep], codes, png, f"{mod} item embeddings",
                                         max_points=max_points, method=method)
    out[mod]["png"] = os.path.basename(png)
  return out


def evaluate(recommender, split: str = "test", baselines: Sequence[str] = BASELINE_NAMES,
             max_users: Optional[int] = None, gen_tasks: bool = True,
             max_gen_examples: Optional[int] = 200, out_dir: Optional[str] = None,
             tsne_method: str = "tsne", tsne_points: int = 2000, sasrec_config=None) -> dict:
  """Full-ranking metrics of the model (each seqrec task + their ensemble) and the baselines."""
  import gr_jax_tasks  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  rec, k = recommender, recommender.top_k
  examples = split_examples(rec.data_dir, split, max_users)
  targets = [rec.item_index.get(ex.target) for ex in examples]
  histories = [ex.history for ex in examples]
  predictions, timing = {}, {}
  seqrec = rec.seqrec_tasks()
  results = []
  for task, mod in seqrec.items():
    t = time.time()
    results.append(rec.decode_sids(rec.history_inputs(task, histories, mod), mod, desc=task, task=task))
    timing[task] = {"seconds": time.time() - t, "users_per_s": len(examples) / max(time.time() - t, 1e-9)}
    predictions[f"{rec.method}:{task}" if len(seqrec) > 1 else rec.method] = results[-1][0]
  if len(results) > 1:
    predictions[f"{rec.method}:ensemble"] = rec.fuse(results)[0]
  baseline_preds = baseline_predictions(
      rec.data_dir, examples, rec.item_ids, k, baselines, sasrec_config,
      os.path.join(out_dir, "baselines") if out_dir else None, rec.progress) if baselines else {}
  predictions.update(baseline_preds)
  systems, curves, ranks_by_system = {}, {}, {}
  for name, items in predictions.items():
    ranks = ranks_by_system[name] = target_ranks(items, targets)
    systems[name] = ranking_metrics(ranks)
    curves[name] = metric_curves(ranks, k)
  report = {
      "split": split, "method": rec.method, "data_dir": rec.data_dir,
      "dataset_name": rec.run_info.get("dataset_name"), "tokenizer_run": rec.tokenizer_run,
      "beam_size": rec.beam_size, "top_k": k, "num_items": len(rec.item_ids),
      "num_users": len(examples), "ensemble": {"method": rec.ensemble_method, "normalize": rec.normalize},
      "protocol": "leave-one-out, full ranking over all items; HR@K = target in top K, "
                  "NDCG@K = 1/log2(rank+2), MRR truncated at top_k",
      "systems": systems, "curves": curves, "timing": timing,
      "paired": paired_differences(ranks_by_system, list(baseline_preds)),
      # Per-user ranks (0-based, -1 = not in the top-k) in the order of `users_digest`'s
      # users, so reports of other runs on the same users can be paired with these.
      "ranks": {name: r.tolist() for name, r in ranks_by_system.items()},
      "users_digest": users_digest([ex.user_id for ex in examples]),
  }
  if gen_tasks:
    tasks = [t for t in gr_jax_tasks.task_names(rec.method) if t not in seqrec]
    report["generation"] = generation_scores(rec, split, tasks, max_gen_examples)
  if out_dir:
    os.makedirs(out_dir, exist_ok=True)
    from gr_jax.reports import eval_plots  # pylint: disable=g-import-not-at-top
    eval_plots.plot_metric_vs_k(curves, os.path.join(out_dir, "metric_vs_k.png"),
                                f"{rec.method} {split} (full ranking, {len(examples)} users)")
    report["plots"] = {"metric_vs_k": "metric_vs_k.png"}
    if tsne_method != "none":
      report["tsne"] = _tsne_plots(rec, out_dir, tsne_method, tsne_points)
  report["seconds"] = time.time() - t0
  return report


def markdown_report(report: Mapping) -> str:
  """Markdown tables of a report (ranking systems, then generation tasks)."""
  cols = [f"HR@{k}" for k in HR_KS] + [f"NDCG@{k}" for k in NDCG_KS] + ["MRR"]
  lines = [f"# {report['method']} on {report.get('dataset_name') or report['data_dir']} "
           f"({report['split']})", "",
           f"{report['num_users']} users, {report['num_items']} items, beam {report['beam_size']}, "
           f"top-{report['top_k']}. {report['protocol']}.", "",
           "| system | " + " | ".join(cols) + " | n |", "|---|" + "---:|" * (len(cols) + 1)]
  for name, m in report["systems"].items():
    lines.append(f"| {name} | " + " | ".join(f"{m[c]:.4f}" for c in cols) + f" | {m['n']} |")
  paired = report.get("paired") or {}
  if paired:
    lines += ["", "## Paired differences against the baselines", "",
              "System minus baseline on the same users, ± the standard error of the mean "
              "per-user difference.", "",
              "| system | baseline | " + " | ".join(f"Δ {m}" for m in PAIRED_METRICS) + " | n |",
              "|---|---|" + "---:|" * (len(PAIRED_METRICS) + 1)]
    for name, by_base in paired.items():
      for base, d in by_base.items():
        n = next(iter(d.values()))["n"]
        lines.append(f"| {name} | {base} | " + " | ".join(
            f"{d[m]['diff']:+.4f} ± {d[m]['se']:.4f}" for m in PAIRED_METRICS if m in d)
            + f" | {n} |")
  gen = report.get("generation") or {}
  if gen:
    lines += ["", "## Generation tasks", "",
              "Item-level tasks (title2sid, sid2title, content2sid, sid2interest, visdesc2*, "
              "text2image, image2text) train on every catalog item, so their scores measure "
              "how well the catalog was memorised; history tasks are held out by leave-one-out.",
              "", "| task | metric | value | n |", "|---|---|---:|---:|"]
    for task, m in gen.items():
      for key in ("exact_match", "token_f1", "tag_f1", "HR@1", "HR@10"):
        if key in m:
          lines.append(f"| {task} | {key} | {m[key]:.4f} | {m['n']} |")
  for mod, info in (report.get("tsne") or {}).items():
    if "png" in info:
      lines += ["", f"![{mod} t-SNE]({info['png']}) (5-NN first-level agreement "
                f"{info['knn_agreement']:.3f})"]
  if "plots" in report:
    lines += ["", f"![metric vs K]({report['plots']['metric_vs_k']})"]
  return "\n".join(lines) + "\n"


def write_report(report: Mapping, out_dir: str) -> None:
  """report.json + report.md (plots are written by `evaluate`)."""
  io_utils.atomic_write_json(os.path.join(out_dir, REPORT_JSON), report)
  io_utils.atomic_write_text(os.path.join(out_dir, REPORT_MD), markdown_report(report))


def add_decode_arguments(parser: argparse.ArgumentParser, out_default: str = "MODEL_DIR/eval/SPLIT",
                         verb: str = "Evaluate") -> None:
  """The flags every command that decodes a trained model's split shares (evaluate, diagnose)."""
  parser.add_argument("--model_dir", required=True, help="Trained model directory (gr-jax train).")
  parser.add_argument("--split", default="test", choices=["valid", "validation", "test"])
  parser.add_argument("--out_dir", default=None, help=f"Report directory (default {out_default}).")
  parser.add_argument("--beam_size", type=int, default=20)
  parser.add_argument("--top_k", type=int, default=10)
  parser.add_argument("--batch_size", type=int, default=32, help="Users per decoding batch.")
  parser.add_argument("--max_users", type=int, default=None, help=f"{verb} the first N users only.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
  add_decode_arguments(parser)
  parser.add_argument("--baselines", default=",".join(BASELINE_NAMES),
                      help="Comma-separated baselines ('' for none): popularity (most-popular), "
                      "sasrec (trained here, early-stopped on valid), markov (last item's leaf "
                      "category -> next category x within-category popularity, counted on train).")
  parser.add_argument("--ensemble", choices=["mean", "rrf"], default="mean")
  parser.add_argument("--normalize", choices=["softmax", "length"], default="softmax",
                      help="Score normalisation of the MACRec mean ensemble.")
  parser.add_argument("--no_generation", action="store_true", help="Skip generation-task scores.")
  parser.add_argument("--max_gen_examples", type=int, default=200)
  parser.add_argument("--tsne", choices=["tsne", "pca", "none"], default="tsne")
  add_sasrec_arguments(parser)


def add_sasrec_arguments(parser: argparse.ArgumentParser) -> None:
  """--sasrec_epochs / --sasrec_seed of the SASRec baseline (evaluate, diagnose)."""
  parser.add_argument("--sasrec_epochs", type=int, default=None,
                      help="SASRec epochs (default: SASRecConfig's; early-stopped on valid).")
  parser.add_argument("--sasrec_seed", type=int, default=None,
                      help="SASRec's init / data-order seed (default: SASRecConfig's; seed "
                      "studies: gr-jax compare-seeds).")


def sasrec_config_from_args(args):
  """The SASRecConfig named by --sasrec_epochs / --sasrec_seed."""
  from gr_jax.baselines import sasrec  # pylint: disable=g-import-not-at-top
  kwargs = {"epochs": args.sasrec_epochs or None, "seed": args.sasrec_seed}  # 0 epochs: default.
  return sasrec.SASRecConfig(**{k: v for k, v in kwargs.items() if v is not None})


def main(args) -> int:
  from gr_jax import recommend  # pylint: disable=g-import-not-at-top
  split = "valid" if args.split == "validation" else args.split
  out_dir = args.out_dir or os.path.join(args.model_dir, "eval", split)
  rec = recommend.Recommender.from_model_dir(
      args.model_dir, beam_size=args.beam_size, top_k=args.top_k, batch_size=args.batch_size,
      ensemble_method=args.ensemble, normalize=args.normalize)
  cfg = sasrec_config_from_args(args)
  report = evaluate(rec, split, [b for b in args.baselines.split(",") if b.strip()],
                    max_users=args.max_users, gen_tasks=not args.no_generation,
                    max_gen_examples=args.max_gen_examples, out_dir=out_dir,
                    tsne_method=args.tsne, sasrec_config=cfg)
  report["model_dir"] = os.path.abspath(args.model_dir)
  write_report(report, out_dir)
  print(markdown_report(report))
  print(f"report: {os.path.join(out_dir, REPORT_JSON)}")
  return 0
