"""`gr-jax diagnose`: why a trained generative recommender ranks where it does.

For one trained model and split it measures, on the same users as `gr-jax evaluate`:
  * train vs valid loss (MODEL_DIR/metrics.jsonl), plotted;
  * teacher-forced accuracy of each SID level (argmax over that level's codes and over the
    whole vocabulary) and the rank of the true first-level code, i.e. how often it is in
    the beam after step 1 (the beam then holds the `beam_size` best first-level codes);
  * HR@10 of the plain constrained beam search and with the true first level pinned
    (oracle prefix), both through `Recommender.decode_sids`;
  * HR@10 by history length, popularity bias (share of the top-10 lists in the 10 % most
    popular train items), catalog coverage and the slots spent re-recommending the history
    (any of its items / one of its last three), side by side with SASRec trained as
    `gr-jax evaluate` trains it (its cache is shared);
  * the SID structure: items per first-level code, prefix collisions, the tokenizer's report.
Writes OUT/diagnose.json, OUT/diagnose.md and plots (default OUT = MODEL_DIR/eval/SPLIT/diagnose).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
from typing import Mapping, Optional, Sequence

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from gr_jax import evaluate
from gr_jax import io_utils
from gr_jax.data import layout

DIAGNOSE_JSON, DIAGNOSE_MD = "diagnose.json", "diagnose.md"
HISTORY_BUCKETS = ((1, 3), (4, 6), (7, 10), (11, 10 ** 9))


def hr_with_se(hits_U) -> dict:
  """Mean of 0/1 hits and its binomial standard error sqrt(p (1 - p) / n)."""
  hits = np.asarray(hits_U, np.float64)
  n = len(hits)
  p = float(hits.mean()) if n else 0.0
  return {"value": p, "se": math.sqrt(p * (1 - p) / n) if n else 0.0, "n": n}


# ----------------------------------------------------------------------------- loss curves


def loss_curves(model_dir: str) -> dict:
  """{"train": [[step, loss]...], "valid": [[step, loss]...]} of MODEL_DIR/metrics.jsonl."""
  path = os.path.join(model_dir, layout.METRICS_FILE)
  out = {"train": [], "valid": []}
  if not os.path.exists(path):
    return out
  for _, rec in io_utils.read_jsonl(path, allow_partial_last_line=True):
    if "train/loss" in rec:
      out["train"].append([int(rec["step"]), float(rec["train/loss"])])
    if "valid/loss" in rec:
      out["valid"].append([int(rec["step"]), float(rec["valid/loss"])])
  return out


# ----------------------------------------------------------------------------- teacher forcing


@functools.lru_cache(maxsize=8)
def _teacher_fn(model, sid_length: int, decoder_start_id: int = 0):
  """Jitted fn(params, enc_BxT, sid_BxL, level_mask_LxV) -> per-level statistics.

  Feeds the true SID through the model's own `make_decoding_fns` (one beam), so it works for
  every model the decoder works for, and returns (argmax correct [B, L], argmax over the
  level's codes correct [B, L], rank of the true code among the level's codes [B, L]).
  """

  @jax.jit
  def fn(params, enc_BxT, sid_BxL, level_mask_LxV):
    ttl, cache = model.make_decoding_fns(params, enc_BxT, 1, sid_length + 1)
    start = jnp.full([sid_BxL.shape[0], 1], decoder_start_id, jnp.int32)
    inputs_LxB = jnp.concatenate([start, sid_BxL[:, :-1]], 1).T

    def step(cache, tok_B):
      logits, cache = ttl(tok_B[:, None], cache)
      return cache, jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)

    _, logp_LxBxV = lax.scan(step, cache, inputs_LxB)
    logp_BxLxV = jnp.swapaxes(logp_LxBxV, 0, 1)
    target_lp = jnp.take_along_axis(logp_BxLxV, sid_BxL[..., None], -1)[..., 0]
    correct = jnp.argmax(logp_BxLxV, -1) == sid_BxL
    pad = logp_BxLxV.shape[-1] - level_mask_LxV.shape[1]  # Model vocab may be padded.
    mask_LxV = jnp.pad(level_mask_LxV, ((0, 0), (0, pad))) if pad > 0 else level_mask_LxV
    masked = jnp.where(mask_LxV[None], logp_BxLxV, -jnp.inf)
    level_correct = jnp.argmax(masked, -1) == sid_BxL
    rank = jnp.sum(masked > target_lp[..., None], -1)
    return correct, level_correct, rank

  return fn


def teacher_forced(rec, texts: Sequence[str], sid_UxL: np.ndarray, modality: str,
                   task: Optional[str] = None) -> dict:
  """Per-level teacher-forced statistics of the true SIDs `sid_UxL` (vocab ids) for `texts`."""
  catalog = rec.catalogs[modality]
  length = catalog.tokens_NxL.shape[1]
  mask = np.zeros([length, rec.vocab.vocab_size], bool)
  for level in range(length):
    mask[level, np.unique(catalog.tokens_NxL[:, level])] = True
  fn = _teacher_fn(rec.model, length)
  enc = rec.encode(texts, task)
  parts = []
  for start in range(0, len(texts), rec.batch_size):
    chunk = np.zeros([rec.batch_size, enc.shape[1]], np.int32)
    sid = np.tile(catalog.tokens_NxL[:1], [rec.batch_size, 1]).astype(np.int32)
    n = min(rec.batch_size, len(texts) - start)
    chunk[:n], sid[:n] = enc[start:start + n], sid_UxL[start:start + n]
    parts.append([np.asarray(x)[:n] for x in jax.device_get(fn(rec.params, chunk, sid, mask))])
  correct, level_correct, rank = (np.concatenate(p) for p in zip(*parts))
  return {"argmax_accuracy": correct.mean(0).tolist(),
          "level_accuracy": level_correct.mean(0).tolist(),
          "all_levels_accuracy": float(correct.all(1).mean()),
          "first_level_rank": rank[:, 0], "codes_per_level": mask.sum(1).tolist()}


# ----------------------------------------------------------------------------- lists


def popularity_stats(predictions_UxK, train_sequences: Mapping[str, Sequence[str]],
                     item_ids: Sequence[str], top_share: float = 0.1) -> dict:
  """Share of recommended slots in the `top_share` most popular train items, and coverage."""
  index = {item: n for n, item in enumerate(item_ids)}
  counts = np.zeros(len(item_ids), np.int64)
  for seq in train_sequences.values():
    for item in seq:
      if item in index:
        counts[index[item]] += 1
  head = set(np.argsort(-counts, kind="stable")[:max(1, math.ceil(top_share * len(item_ids)))].tolist())
  preds = np.asarray(predictions_UxK)
  shown = preds[preds >= 0]
  return {"head_share": float(np.mean([int(i) in head for i in shown])) if len(shown) else 0.0,
          "coverage": float(len(np.unique(shown)) / max(len(item_ids), 1)),
          "head_items": len(head), "slots": int(len(shown))}


def repeat_shares(predictions_UxK, histories: Sequence[Sequence[str]], item_ids: Sequence[str],
                  recent: int = 3) -> dict:
  """Share of recommended slots that re-recommend the user's history: any of its items, and
  one of its last `recent` items (slots a next-item list spends on what was just consumed)."""
  index = {item: n for n, item in enumerate(item_ids)}
  preds = np.asarray(predictions_UxK)
  if len(preds) != len(histories):
    raise ValueError(f"{len(preds)} lists for {len(histories)} histories")
  slots = any_hist = last = 0
  for row, history in zip(preds, histories):
    ids = [index[i] for i in history if i in index]
    seen, latest = set(ids), set(ids[-recent:]) if recent > 0 else set()
    shown = [int(i) for i in row if i >= 0]
    slots += len(shown)
    any_hist += sum(i in seen for i in shown)
    last += sum(i in latest for i in shown)
  return {"history_share": any_hist / slots if slots else 0.0,
          "recent_share": last / slots if slots else 0.0, "recent_items": int(recent)}


def sid_structure(tokens_NxL: np.ndarray) -> dict:
  """Items per first-level code and items sharing each proper prefix (before the last level)."""
  tokens = np.asarray(tokens_NxL)
  _, per_code = np.unique(tokens[:, 0], return_counts=True)
  out = {"items": int(len(tokens)), "first_level_codes": int(len(per_code)),
         "items_per_first_code": {"min": int(per_code.min()), "mean": float(per_code.mean()),
                                  "max": int(per_code.max())},
         "items_per_first_code_counts": sorted(per_code.tolist(), reverse=True)}
  if tokens.shape[1] > 1:
    _, shared = np.unique(tokens[:, :-1], axis=0, return_counts=True)
    out["prefix_collisions"] = int((shared[shared > 1]).sum())  # Items told apart only by the last level.
    out["distinct_prefixes"] = int(len(shared))
  return out


def _history_buckets(histories, hits_by_system: Mapping[str, np.ndarray]) -> dict:
  lengths = np.array([len(h) for h in histories])
  out = {}
  for lo, hi in HISTORY_BUCKETS:
    sel = (lengths >= lo) & (lengths <= hi)
    if sel.any():
      key = f"{lo}-{hi}" if hi < 10 ** 9 else f"{lo}+"
      out[key] = {name: hr_with_se(h[sel]) for name, h in hits_by_system.items()}
  return out


# ----------------------------------------------------------------------------- the report


def diagnose(rec, model_dir: Optional[str] = None, split: str = "test",
             max_users: Optional[int] = None, sasrec_config=None, out_dir: Optional[str] = None,
             baselines: Sequence[str] = ("sasrec",), baseline_cache: Optional[str] = None) -> dict:
  """All measurements of the module docstring for a `recommend.Recommender`.

  SASRec is trained as `gr-jax evaluate` trains it and cached in `baseline_cache`
  (default OUT/baselines; pass an evaluation's `eval/test/baselines` to reuse its model)."""
  from gr_jax import baselines as baselines_lib  # pylint: disable=g-import-not-at-top
  examples = evaluate.split_examples(rec.data_dir, split, max_users)
  histories = [ex.history for ex in examples]
  targets = np.array([rec.item_index.get(ex.target, -1) for ex in examples])
  train = baselines_lib.train_sequences(rec.data_dir)
  k = rec.top_k
  report = {"split": split, "method": rec.method, "num_users": len(examples),
            "num_items": len(rec.item_ids), "beam_size": rec.beam_size, "top_k": k,
            "max_history": rec.max_history, "compact_history": rec.compact_history, "tasks": {}}
  if model_dir:
    report["loss_curves"] = loss_curves(model_dir)
  hits_by_system, lists, list_histories = {}, {}, {}
  for task, mod in rec.seqrec_tasks().items():
    catalog = rec.catalogs[mod]
    row_of = trie_rows(catalog)
    keep = np.array([int(t) in row_of for t in targets])  # Targets with a SID in this modality.
    texts = rec.history_inputs(task, [h for h, ok in zip(histories, keep) if ok], mod)
    sid = catalog.tokens_NxL[[row_of[int(t)] for t in targets[keep]]].astype(np.int32)
    tf = teacher_forced(rec, texts, sid, mod, task)
    prompt_lengths = np.array([len(rec.vocab.encode(t)) + 1 for t in texts])  # + eos.
    first_rank = tf.pop("first_level_rank")
    plain, _ = rec.decode_sids(texts, mod, desc=f"{task} plain", task=task)
    forced = np.full_like(sid, -1)
    forced[:, 0] = sid[:, 0]
    oracle, _ = rec.decode_sids(texts, mod, desc=f"{task} oracle prefix", forced_tokens=forced,
                                task=task)
    hit_plain = (plain == targets[keep][:, None]).any(1)
    hit_oracle = (oracle == targets[keep][:, None]).any(1)
    plain_first = catalog.tokens_NxL[[row_of.get(int(i), 0) for i in plain[:, 0]], 0]
    name = rec.method if len(rec.seqrec_tasks()) == 1 else f"{rec.method}:{task}"
    hits_by_system[name], lists[name] = hit_plain, plain
    list_histories[name] = [h for h, ok in zip(histories, keep) if ok]
    report["tasks"][task] = {
        "modality": mod, "n": int(keep.sum()), "teacher_forced": tf,
        # Prompts longer than the model's input length lose their END (the most recent items);
        # compact inputs (rec.compact_history) lose their oldest items instead.
        "inputs_truncated": hr_with_se(prompt_lengths > rec.input_length),
        "prompt_tokens": {"max": int(prompt_lengths.max()), "mean": float(prompt_lengths.mean()),
                          "input_length": rec.input_length},
        "first_level_in_beam_after_step1": hr_with_se(first_rank < rec.beam_size),
        "first_level_top1": hr_with_se(first_rank == 0),
        "top1_first_level_correct": hr_with_se(plain_first == sid[:, 0]),
        f"HR@{k}": hr_with_se(hit_plain), f"HR@{k}_oracle_first_level": hr_with_se(hit_oracle),
        "sid_structure": sid_structure(catalog.tokens_NxL)}
  if baselines:
    preds = evaluate.baseline_predictions(
        rec.data_dir, examples, rec.item_ids, k, baselines, sasrec_config,
        baseline_cache or (os.path.join(out_dir, "baselines") if out_dir else None), rec.progress)
    for name, items in preds.items():
      hits_by_system[name] = (np.asarray(items) == targets[:, None]).any(1)
      lists[name], list_histories[name] = items, histories
  report["systems"] = {
      name: dict(hr_with_se(hits_by_system[name]), **popularity_stats(items, train, rec.item_ids),
                 **repeat_shares(items, list_histories[name], rec.item_ids))
      for name, items in lists.items()}
  first_task, first_mod = next(iter(rec.seqrec_tasks().items()))
  report["first_level_by_system"] = {
      "task": first_task, **{name: first_level_of_lists(rec.catalogs[first_mod], items, targets)
                             for name, items in lists.items() if len(items) == len(examples)}}
  report["history_length"] = _history_buckets(
      histories, {n: h for n, h in hits_by_system.items() if len(h) == len(examples)})
  report["history_length_note"] = (f"the generative model reads the last {rec.max_history} items; "
                                   "SASRec its own max_len")
  tok_report = layout.sid_report_path(rec.data_dir, rec.tokenizer_run)
  if os.path.exists(tok_report):
    mods = io_utils.read_json(tok_report).get("modalities") or {}
    report["tokenizer"] = {m: {key: v.get(key) for key in ("collision_rate_before", "collision_rate_after",
                                                           "codebook_sizes", "perplexity")}
                           for m, v in mods.items()}
  if out_dir:
    os.makedirs(out_dir, exist_ok=True)
    report["plots"] = _plots(report, out_dir)
  return report


def trie_rows(catalog) -> dict[int, int]:
  """{catalog item index: its row in `catalog.tokens_NxL`} (items of this modality only)."""
  return {int(c): n for n, c in enumerate(catalog.catalog_index)}


def first_level_of_lists(catalog, items_UxK: np.ndarray, targets: np.ndarray) -> dict:
  """How well a top-K list knows the target's first SID level: its top-1 item has it, or any
  of its K items has it (users whose target has a SID). Read next to HR@K, it separates
  "which first-level group comes next" from "which item inside the group"."""
  row_of = trie_rows(catalog)
  first = np.array([catalog.tokens_NxL[row_of[int(i)], 0] if int(i) in row_of else -1
                    for i in np.asarray(items_UxK).reshape(-1)]).reshape(np.shape(items_UxK))
  keep = np.array([int(t) in row_of for t in targets])
  want = np.array([catalog.tokens_NxL[row_of[int(t)], 0] for t in targets[keep]])
  first = first[keep]
  return {"top1": hr_with_se(first[:, 0] == want), "in_list": hr_with_se((first == want[:, None]).any(1)),
          "distinct_in_list": float(np.mean([len(set(r[r >= 0])) for r in first]))}


def _plots(report: Mapping, out_dir: str) -> dict:
  """loss_curves.png, diagnose.png (levels, oracle, popularity), items_per_code.png."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  plots = {}
  curves = report.get("loss_curves") or {}
  if curves.get("train"):
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key, style in (("train", "-"), ("valid", "o-")):
      if curves.get(key):
        steps, losses = zip(*curves[key])
        ax.plot(steps, losses, style, label=key)
    ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.legend(), ax.set_title(f"{report['method']} loss")
    fig.tight_layout()
    _savefig(fig, os.path.join(out_dir, "loss_curves.png"))
    plt.close(fig)
    plots["loss_curves"] = "loss_curves.png"
  tasks = report["tasks"]
  fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
  for task, t in tasks.items():
    levels = np.arange(1, len(t["teacher_forced"]["level_accuracy"]) + 1)
    axes[0].plot(levels, t["teacher_forced"]["level_accuracy"], "o-", label=f"{task} (level codes)")
    axes[0].plot(levels, t["teacher_forced"]["argmax_accuracy"], "x--", label=f"{task} (argmax)")
  axes[0].set_xticks(np.arange(1, max(len(t["teacher_forced"]["level_accuracy"])
                                      for t in tasks.values()) + 1))
  axes[0].set_xlabel("SID level"), axes[0].set_ylabel("teacher-forced accuracy")
  axes[0].set_ylim(0, 1), axes[0].legend(fontsize=7)
  k = report["top_k"]
  names = list(tasks)
  plain = [tasks[n][f"HR@{k}"]["value"] for n in names]
  oracle = [tasks[n][f"HR@{k}_oracle_first_level"]["value"] for n in names]
  x = np.arange(len(names))
  axes[1].bar(x - 0.2, plain, 0.4, label="plain")
  axes[1].bar(x + 0.2, oracle, 0.4, label="true first level")
  for name, sysm in report["systems"].items():
    if ":" not in name and name not in (report["method"],):
      axes[1].axhline(sysm["value"], ls=":", color="k", label=name)
  axes[1].set_xticks(x, names, fontsize=7), axes[1].set_ylabel(f"HR@{k}"), axes[1].legend(fontsize=7)
  sys_names = list(report["systems"])
  axes[2].bar(np.arange(len(sys_names)) - 0.2, [report["systems"][s]["head_share"] for s in sys_names],
              0.4, label="top-10% popular share")
  axes[2].bar(np.arange(len(sys_names)) + 0.2, [report["systems"][s]["coverage"] for s in sys_names],
              0.4, label="catalog coverage")
  axes[2].set_xticks(np.arange(len(sys_names)), sys_names, fontsize=7), axes[2].legend(fontsize=7)
  fig.tight_layout()
  _savefig(fig, os.path.join(out_dir, "diagnose.png"))
  plt.close(fig)
  plots["diagnose"] = "diagnose.png"
  first = next(iter(tasks.values()))["sid_structure"]["items_per_first_code_counts"]
  fig, ax = plt.subplots(figsize=(5, 3))
  ax.bar(np.arange(len(first)), first)
  ax.set_xlabel("first-level code (sorted)"), ax.set_ylabel("items")
  fig.tight_layout()
  _savefig(fig, os.path.join(out_dir, "items_per_code.png"))
  plt.close(fig)
  plots["items_per_code"] = "items_per_code.png"
  return plots


def _savefig(fig, path: str) -> None:
  with io_utils.atomic_open(path, "wb") as f:
    fig.savefig(f, format="png", dpi=110, bbox_inches="tight")


def _fmt(m: Mapping) -> str:
  return f"{m['value']:.4f} ± {m['se']:.4f}"


def markdown(report: Mapping) -> str:
  """The diagnosis as a markdown section."""
  k = report["top_k"]
  lines = [f"## Diagnosis: {report['method']} ({report['split']}, {report['num_users']} users, "
           f"{report['num_items']} items, beam {report['beam_size']})", ""]
  curves = report.get("loss_curves") or {}
  if curves.get("train"):
    tr = curves["train"][-1]
    va = curves["valid"][-1] if curves.get("valid") else None
    lines.append(f"Loss at step {tr[0]}: train {tr[1]:.4f}"
                 + (f", valid {va[1]:.4f} (step {va[0]})" if va else ", no valid loss logged") + ".")
    lines.append("")
  for task, t in report["tasks"].items():
    p = t["prompt_tokens"]
    lines.append(f"{task}: {t['inputs_truncated']['value']:.1%} of the prompts exceed the input length "
                 f"{p['input_length']} (max {p['max']}, mean {p['mean']:.1f} tokens) and lose their "
                 + ("oldest items (compact inputs, trimmed keep-recent)." if report.get("compact_history")
                    else "most recent items (prompt inputs keep their start)."))
  lines += ["", "| task | level acc. (level codes) | level acc. (argmax) | whole SID | first level in beam "
            "after step 1 | first level top-1 | " + f"HR@{k} | HR@{k} true first level |",
            "|---|---|---|---:|---:|---:|---:|---:|"]
  for task, t in report["tasks"].items():
    tf = t["teacher_forced"]
    lines.append(f"| {task} | " + " / ".join(f"{a:.3f}" for a in tf["level_accuracy"]) + " | "
                 + " / ".join(f"{a:.3f}" for a in tf["argmax_accuracy"])
                 + f" | {tf['all_levels_accuracy']:.3f} | {_fmt(t['first_level_in_beam_after_step1'])} | "
                 f"{_fmt(t['first_level_top1'])} | {_fmt(t[f'HR@{k}'])} | "
                 f"{_fmt(t[f'HR@{k}_oracle_first_level'])} |")
  lines += ["", f"| system | HR@{k} | top-10 % popular share of the lists | catalog coverage | "
            "slots on a history item | slots on one of the last 3 |", "|---|---:|---:|---:|---:|---:|"]
  for name, m in report["systems"].items():
    lines.append(f"| {name} | {_fmt(m)} | {m['head_share']:.3f} | {m['coverage']:.3f} | "
                 f"{m.get('history_share', float('nan')):.3f} | {m.get('recent_share', float('nan')):.3f} |")
  by_sys = {n: v for n, v in (report.get("first_level_by_system") or {}).items() if n != "task"}
  if by_sys:
    lines += ["", f"Target's first SID level ({report['first_level_by_system']['task']}) in each "
              f"system's top-{k} list: does a system know which group comes next (top-1, any) "
              "or rank better inside it?", "",
              f"| system | top-1 item has it | any of the {k} has it | distinct first levels in the list |",
              "|---|---:|---:|---:|"]
    for name, v in by_sys.items():
      lines.append(f"| {name} | {_fmt(v['top1'])} | {_fmt(v['in_list'])} | {v['distinct_in_list']:.1f} |")
  buckets = report.get("history_length") or {}
  if buckets:
    names = list(next(iter(buckets.values())))
    lines += ["", f"HR@{k} by history length ({report['history_length_note']}):", "",
              "| history | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, row in buckets.items():
      n = next(iter(row.values()))["n"]
      lines.append(f"| {key} (n={n}) | " + " | ".join(_fmt(row[s]) for s in names) + " |")
  lines += ["", "| task | items | first-level codes | items per first code (min/mean/max) | "
            "items sharing a prefix before the last level |", "|---|---:|---:|---|---:|"]
  for task, t in report["tasks"].items():
    s = t["sid_structure"]
    ipc = s["items_per_first_code"]
    lines.append(f"| {task} | {s['items']} | {s['first_level_codes']} | {ipc['min']}/{ipc['mean']:.1f}/"
                 f"{ipc['max']} | {s.get('prefix_collisions', 0)} |")
  for mod, info in (report.get("tokenizer") or {}).items():
    lines.append("")
    lines.append(f"Tokenizer ({mod}): collision rate {info.get('collision_rate_before')} before, "
                 f"{info.get('collision_rate_after')} after; codebooks {info.get('codebook_sizes')}.")
  for name, png in (report.get("plots") or {}).items():
    lines += ["", f"![{name}]({png})"]
  return "\n".join(lines) + "\n"


def write(report: Mapping, out_dir: str) -> None:
  """diagnose.json + diagnose.md."""
  io_utils.atomic_write_json(os.path.join(out_dir, DIAGNOSE_JSON), report)
  io_utils.atomic_write_text(os.path.join(out_dir, DIAGNOSE_MD), markdown(report))


def add_arguments(parser: argparse.ArgumentParser) -> None:
  evaluate.add_decode_arguments(parser, "MODEL_DIR/eval/SPLIT/diagnose", "Diagnose")
  parser.add_argument("--baselines", default="sasrec",
                      help="Comma-separated baselines shown side by side ('' for none).")
  evaluate.add_sasrec_arguments(parser)
  parser.add_argument("--baseline_cache", default=None,
                      help="SASRec cache dir (default OUT/baselines); e.g. MODEL_DIR/eval/test/baselines "
                      "of a `gr-jax evaluate` run reuses its SASRec when data and config match.")


def main(args) -> int:
  from gr_jax import recommend  # pylint: disable=g-import-not-at-top
  split = "valid" if args.split == "validation" else args.split
  out_dir = args.out_dir or os.path.join(args.model_dir, "eval", split, "diagnose")
  rec = recommend.Recommender.from_model_dir(args.model_dir, beam_size=args.beam_size,
                                             top_k=args.top_k, batch_size=args.batch_size)
  cfg = evaluate.sasrec_config_from_args(args)
  report = diagnose(rec, args.model_dir, split, args.max_users, cfg, out_dir,
                    [b for b in args.baselines.split(",") if b.strip()], args.baseline_cache)
  report["model_dir"] = os.path.abspath(args.model_dir)
  write(report, out_dir)
  print(markdown(report))
  print(f"report: {os.path.join(out_dir, DIAGNOSE_JSON)}")
  return 0
