"""`gr-jax tokenize`: embeddings -> trained RQ-VAE(s) -> sids.json, sid_report.json, plots."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import os
import sys
import time
from typing import Optional, Sequence

import numpy as np

from gr_jax import gin_flags
from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import schema
from gr_jax.data import sids
from gr_jax.embed import stage as embed_stage

def _fingerprint(ids: Sequence[str], data: dict) -> dict:
  h = hashlib.sha1("\n".join(ids).encode()).hexdigest()
  return {"n_items": len(ids), "ids_sha1": h, "dims": {m: int(a.shape[1]) for m, a in data.items()}}


def _unit_scale(x_NxD: np.ndarray) -> np.ndarray:
  """Centred, scaled to a mean row norm of 1 (so concatenated blocks weigh alike)."""
  x = np.asarray(x_NxD, np.float32)
  x = x - x.mean(0, keepdims=True)
  return x / max(float(np.linalg.norm(x, axis=1).mean()), 1e-12)


def read_collaborative(data_dir: str) -> tuple[list[str], np.ndarray, dict]:
  """(ids, [N, D] embeddings, info) of DIR/embeddings/collab.*, checked."""
  npy = layout.embeddings_path(data_dir, layout.COLLAB)
  ids_path = layout.embeddings_path(data_dir, layout.COLLAB_IDS)
  info_path = layout.embeddings_path(data_dir, layout.COLLAB_INFO)
  for path in (npy, ids_path, info_path):
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path} not found: run `gr-jax collab-embed --data {data_dir}` first "
                              "(TokenizerConfig.collaborative needs it)")
  ids = [line.rstrip("\n") for _, line in io_utils.iter_lines(ids_path)]
  arr = np.load(npy, allow_pickle=False)
  if arr.ndim != 2 or arr.shape[0] != len(ids):
    raise io_utils.BadInputError(npy, None, None,
                                 f"expected [{len(ids)}, D] (one row per line of {ids_path}), "
                                 f"got shape {arr.shape}")
  return ids, arr.astype(np.float32), io_utils.read_json(info_path)


def collaborative_inputs(data_dir: str, cfg) -> tuple[list[str], dict[str, np.ndarray], dict]:
  """(ids, {modality: tokenizer input}, fingerprint extra) with the collaborative signal fused in."""
  if cfg.collaborative == "none":
    ids, data = embed_stage.read_embeddings(data_dir, cfg.modalities)
    return ids, data, {}
  cids, collab, info = read_collaborative(data_dir)
  extra = {"collaborative": cfg.collaborative, "collab_key": info.get("key")}
  if cfg.collaborative == "replace":  # No content embeddings needed.
    block = _unit_scale(collab)
    return cids, {m: block for m in cfg.modalities}, extra
  ids, data = embed_stage.read_embeddings(data_dir, cfg.modalities)
  row = {item: n for n, item in enumerate(cids)}
  missing = [i for i in ids if i not in row]
  if missing:
    raise io_utils.BadInputError(layout.embeddings_path(data_dir, layout.COLLAB_IDS), None, "item_id",
                                 f"{len(missing)} embedded items have no collaborative row "
                                 f"(e.g. {missing[0]!r}); rerun gr-jax collab-embed")
  block = _unit_scale(collab[[row[i] for i in ids]]) * float(cfg.collaborative_weight)
  return ids, {m: np.concatenate([_unit_scale(x), block], 1) for m, x in data.items()}, extra


def tokenize(data_dir: str, cfg, out_dir: Optional[str] = None, progress: bool = True) -> dict:
  """Runs the whole stage; returns the sid_report dict (also written to out_dir)."""
  from gr_jax.rqvae import collisions, kmeans, macrec, plots, sid_metrics, trainer  # pylint: disable=g-import-not-at-top
  from gr_jax.rqvae.config import prefixes_for  # pylint: disable=g-import-not-at-top
  out_dir = out_dir or layout.tokenizer_dir(data_dir, cfg.run)
  os.makedirs(out_dir, exist_ok=True)
  ids, data, collab_extra = collaborative_inputs(data_dir, cfg)
  if len(ids) < 2:
    raise io_utils.BadInputError(os.path.join(data_dir, layout.EMBEDDINGS_DIR, layout.EMBED_IDS), None,
                                 None, f"need at least 2 items, got {len(ids)}")
  config_doc = {"config": cfg.to_json(), "input": dict(_fingerprint(ids, data), **collab_extra)}
  config_path = os.path.join(out_dir, "config.json")
  ckpt_dir = os.path.join(out_dir, "checkpoints")
  previous = io_utils.read_json_or_empty(config_path)
  if previous and ({k: previous.get(k) for k in config_doc} != config_doc):
    logging.info("config or input changed since the last run: starting over")
    trainer.clear_checkpoints(ckpt_dir)
  io_utils.atomic_write_json(config_path, dict(config_doc, status="training"))

  t0 = time.time()
  pseudo = None
  if cfg.dual:
    pseudo = {m: kmeans.pseudo_labels(data[m], cfg.pseudo_label_k, seed=cfg.seed)
              for m in cfg.modalities}
  models, params, history = trainer.train(cfg, data, ckpt_dir, pseudo_labels=pseudo,
                                          progress=progress)
  train_seconds = time.time() - t0

  report = {"run": cfg.run, "train_seconds": round(train_seconds, 3), "n_items": len(ids),
            "collision_strategy": cfg.collision, "modalities": {}}
  entries = {}
  for m in cfg.modalities:
    exported = trainer.encode_codes(models[m], params[m], data[m])
    raw = exported["codes"].astype(np.int64)
    last_cb = np.asarray(params[m]["quantizer"][f"codebook_{len(cfg.codebook_sizes) - 1}"])
    final, extra, info = collisions.resolve(raw, cfg.collision, exported["last_residual"], last_cb)
    sizes = [int(k) for k in cfg.codebook_sizes] + ([int(extra)] if extra else [])
    prefixes = prefixes_for(m, len(sizes), cfg.dual)
    entries[m] = sids.modality_entry(ids, final, prefixes, sizes)
    mod_report = {
        "collision_rate_before": collisions.collision_rate(raw),
        "collision_rate_after": collisions.collision_rate(final),
        "codebook_sizes": sizes,
        "codebook_usage": sid_metrics.codebook_usage(final, sizes),
        "perplexity": sid_metrics.perplexity(final, sizes),
        "recon_cosine_by_depth": [float(c) for c in
                                  trainer.recon_cosine_by_depth(models[m], params[m], data[m])],
        "collision_resolution": info,
    }
    if pseudo is not None:
      other = "image" if m == "text" else "text"
      mod_report["pseudo_label_disagreement"] = [
          macrec.disagreement(raw[:, l], pseudo[other]) for l in range(raw.shape[1])]
    report["modalities"][m] = mod_report
  report["history_tail"] = history[-5:]
  sids.write_sids(os.path.join(out_dir, layout.SIDS), cfg.run, entries)
  io_utils.atomic_write_json(os.path.join(out_dir, layout.SID_REPORT), report)
  plots.write_plots(report, out_dir)
  io_utils.atomic_write_json(config_path, dict(config_doc, status="done",
                                               steps=trainer.num_steps(cfg, len(ids)),
                                               train_seconds=report["train_seconds"]))
  return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Flags of `gr-jax tokenize`."""
  parser.add_argument("--data", required=True, help="Dataset dir (reads embeddings/).")
  gin_flags.add_gin_arguments(parser, "gin/rqvae/trialign.gin", "--gin.TokenizerConfig.epochs=50")
  parser.add_argument("--seed", type=int, default=None, help="Overrides the config's seed.")
  parser.add_argument("--run", default=None, help="Overrides the run name (output dir).")
  parser.add_argument("--out_dir", default=None, help="Default: DATA/tokenizer/<run>.")
  parser.add_argument("--no_progress", action="store_true", help="No progress bar.")


def config_from_gin(gin_files: Sequence[str], bindings: Sequence[str], seed: Optional[int] = None,
                    run: Optional[str] = None, search_paths: Sequence[str] = ()):
  """Parses gin (files looked up in cwd and gin/) and returns the TokenizerConfig."""
  from gr_jax.rqvae.config import TokenizerConfig  # pylint: disable=g-import-not-at-top
  gin_flags.parse_gin(gin_files, bindings, search_paths)
  cfg = TokenizerConfig()
  changes = {}
  if seed is not None:
    changes["seed"] = int(seed)
  if run:
    changes["run"] = run
  return dataclasses.replace(cfg, **changes) if changes else cfg


def main(args) -> int:
  """Entry point of `gr-jax tokenize`."""
  logging.basicConfig(level=logging.INFO, format="%(message)s")
  for noisy in ("absl", "orbax", "jax"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
  schema.require_prepared(args.data)
  cfg = config_from_gin(args.gin_file, args.gin_bindings, args.seed, args.run,
                        args.gin_search_paths)
  try:
    report = tokenize(args.data, cfg, args.out_dir, progress=not args.no_progress)
  except (io_utils.BadInputError, FileNotFoundError, FloatingPointError) as e:
    if getattr(args, "debug", False):
      raise
    print(f"gr-jax tokenize: {e}", file=sys.stderr)
    return 1
  for m, r in report["modalities"].items():
    print(f"{report['run']}/{m}: collisions {r['collision_rate_before']:.4f} -> "
          f"{r['collision_rate_after']:.4f}, usage {[round(u, 3) for u in r['codebook_usage']]}, "
          f"recon cosine by depth {[round(c, 3) for c in r['recon_cosine_by_depth']]}")
  print(f"trained in {report['train_seconds']:.1f}s; wrote "
        f"{os.path.join(args.out_dir or layout.tokenizer_dir(args.data, report['run']), layout.SIDS)}")
  return 0
