"""Every on-disk name and default of a dataset directory and a model directory (one owner).

A dataset directory DIR (one per dataset) holds, stage by stage:
  prepare   items.jsonl, sequences.jsonl, splits/{train,valid,test}.jsonl, stats.json,
            images/ (optional local images), latent_factors.json (synthetic catalog only)
  enrich    enrich/captions.jsonl, enrich/interests.jsonl (+ .archive.jsonl), view.json
            (ablation view), report.json
  embed     embeddings/{text,text_enriched,image,image_valid,fused}.npy, ids.txt,
            manifest.json, report.json
  tokenize  tokenizer/<run>/sids.json, sid_report.json, config.json, checkpoints/
  tasks     vocab/<run>/spm.model, vocab.json
A model directory (`gr-jax train --gin.MODEL_DIR`) holds run_info.json, metrics.jsonl,
checkpoints/ and eval/<split>/report.json.
"""

from __future__ import annotations

import os

# Defaults read by argparse/dataclasses and by gin: gin_flags registers the gin constant
# `gr_jax.DEFAULT_MAX_HISTORY`, which gin/gr_jax/train_defaults.gin's MAX_HISTORY macro reads.
MAX_HISTORY = 20  # History items kept per example (most recent last).

# prepare
ITEMS = "items.jsonl"
SEQUENCES = "sequences.jsonl"
STATS = "stats.json"
SPLITS_DIR = "splits"
SPLIT_NAMES = ("train", "valid", "test")
IMAGES_DIR = "images"
LATENT_FACTORS = "latent_factors.json"
PREPARE_DONE = "prepare_done.json"  # Written last by `gr-jax prepare`; later stages require it.
CEILING_DIR = "ceiling"  # Synthetic data only: Bayes ceilings per split (gr_jax.data.synthetic_ceiling).
# enrich
ENRICH_DIR = "enrich"
CAPTIONS = "captions.jsonl"
INTERESTS = "interests.jsonl"
ENRICH_VIEW = "view.json"
ENRICH_REPORT = "report.json"
CAPTIONS_ARCHIVE = "captions.archive.jsonl"
INTERESTS_ARCHIVE = "interests.archive.jsonl"
# embed
EMBEDDINGS_DIR = "embeddings"
EMBED_IDS = "ids.txt"
EMBED_MANIFEST = "manifest.json"
EMBED_REPORT = "report.json"
FUSED = "fused.npy"
# collaborative item embeddings (SASRec on the train split; `gr-jax collab-embed`)
COLLAB = "collab.npy"
COLLAB_IDS = "collab_ids.txt"
COLLAB_INFO = "collab.json"
# tokenize
TOKENIZER_DIR = "tokenizer"
SIDS = "sids.json"
SID_REPORT = "sid_report.json"
# tasks (SentencePiece + SID vocabulary)
VOCAB_DIR = "vocab"
VOCAB_MODEL = "spm.model"
VOCAB_META = "vocab.json"
# model directory
RUN_INFO = "run_info.json"
CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.jsonl"
EVAL_DIR = "eval"
EVAL_REPORT = "report.json"


def enrich_path(data_dir: str, name: str) -> str:
  """`DIR/enrich/<name>` (CAPTIONS, INTERESTS or ENRICH_VIEW)."""
  return os.path.join(data_dir, ENRICH_DIR, name)


def embeddings_path(data_dir: str, name: str) -> str:
  """`DIR/embeddings/<name>`."""
  return os.path.join(data_dir, EMBEDDINGS_DIR, name)


def tokenizer_dir(data_dir: str, run: str) -> str:
  """`DIR/tokenizer/<run>/`: one RQ-VAE tokenizer run."""
  return os.path.join(data_dir, TOKENIZER_DIR, run)


def sids_path(data_dir: str, run: str) -> str:
  """`DIR/tokenizer/<run>/sids.json`."""
  return os.path.join(tokenizer_dir(data_dir, run), SIDS)


def sid_report_path(data_dir: str, run: str) -> str:
  """`DIR/tokenizer/<run>/sid_report.json`."""
  return os.path.join(tokenizer_dir(data_dir, run), SID_REPORT)


def vocab_dir(data_dir: str, run: str) -> str:
  """`DIR/vocab/<run>/`."""
  return os.path.join(data_dir, VOCAB_DIR, run)


def eval_report_path(model_dir: str, split: str = "test") -> str:
  """`MODEL_DIR/eval/<split>/report.json`."""
  return os.path.join(model_dir, EVAL_DIR, split, EVAL_REPORT)


def ceiling_path(data_dir: str, split: str = "test") -> str:
  """DATA/ceiling/<split>.json: the synthetic generator's Bayes ceilings on a split."""
  return os.path.join(data_dir, CEILING_DIR, f"{split}.json")
