"""`gr-jax embed --data DIR`: text, image and fused item embeddings -> DIR/embeddings/.

Writes text.npy (title + description), image.npy (EfficientNet-Lite0 pooled
features), fused.npy (enriched text + image, see fusion.py), ids.txt (row
order = items.jsonl order), plus text_enriched.npy, image_valid.npy,
manifest.json (fingerprints) and report.json (counts, fallbacks, timings).
Every array is float32 with unit-norm rows and is written atomically. A
modality whose fingerprint (encoder identity + its inputs) matches the
manifest is skipped, so reruns and resumed runs only redo what changed.

Fallback policies (recorded in report.json):
  * empty text: title + description empty -> brand + categories; if those are
    empty too, the encoder's embedding of the empty string (counted).
  * image missing / remote / unreadable (counted per reason): the image.npy
    row is the normalised mean of the catalog's valid image features,
    image_valid.npy marks it False, and fused.npy uses the text block only.
    With --image_fallback error the run stops instead.
  * no usable image at all: image.npy is not written; fused = enriched text.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Sequence

import numpy as np

from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import schema
from gr_jax.embed.config import FUSED_BACKENDS, IMAGE_BACKENDS, TEXT_BACKENDS, EmbedConfig

def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Registers the `gr-jax embed` flags."""
  d = EmbedConfig()
  a = parser.add_argument
  a("--data", required=True, help="dataset directory (items.jsonl, images/, enrich/)")
  a("--text_backend", choices=TEXT_BACKENDS, default=d.text_backend)
  a("--image_backend", choices=IMAGE_BACKENDS, default=d.image_backend)
  a("--fused_backend", choices=FUSED_BACKENDS, default=d.fused_backend,
    help="concat: weighted concatenation (fusion.py); http: unified multimodal endpoint "
    "(e.g. gme-Qwen2-VL on vLLM); precomputed: --fused_npy")
  a("--max_text_tokens", type=int, default=d.max_text_tokens)
  a("--text_batch_tokens", type=int, default=d.text_batch_tokens)
  a("--image_size", type=int, default=d.image_size,
    help="EfficientNet input side (128 keeps the demo fast; 224 for real product photos)")
  a("--image_batch_size", type=int, default=d.image_batch_size)
  a("--workers", type=int, default=d.workers, help="image decoding threads")
  a("--text_weight", type=float, default=d.text_weight,
    help="fused: share of cosine similarity carried by the enriched-text block (0..1)")
  a("--no_center", dest="center", action="store_false", help="fused: do not centre blocks")
  a("--fused_dim", type=int, default=d.fused_dim, help="fused: PCA dimension (0 = none)")
  a("--captions", choices=("on", "off"), default="on", help="use CMSA captions in fused text")
  a("--interests", choices=("on", "off"), default="on", help="use MDIM interests in fused text")
  a("--image_fallback", choices=("mean", "error"), default=d.image_fallback)
  a("--empty_text", choices=("fallback", "error"), default=d.empty_text)
  for mod in ("text", "image", "fused"):
    a(f"--{mod}_npy", help=f"precomputed {mod} embeddings [rows, dim] (.npy)")
    a(f"--{mod}_ids", help="id list for those rows: a file (ids.txt, id<TAB>row, JSON list or "
      "{id: row}), 'index' (row = integer item id), or omitted (items.jsonl order)")
  a("--allow_missing", action="store_true",
    help="precomputed: give items without a row the mean row instead of failing")
  a("--http_url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
  a("--http_model", help="model name sent to the endpoint")
  a("--http_api_key_env", default=d.http_api_key_env,
    help="environment variable holding the API key (never logged)")
  a("--http_batch_size", type=int, default=d.http_batch_size)
  a("--http_timeout", type=float, default=d.http_timeout)
  a("--http_concurrency", type=int, default=d.http_concurrency)
  a("--hub_text_model", help="sentence-transformers / transformers model name or local path")
  a("--hub_image_model", help="open_clip model name, e.g. ViT-L-14")
  a("--hub_image_pretrained", help="open_clip pretrained tag or local checkpoint path")
  a("--allow_download", action="store_true", help="hub backends may download (default: local only)")
  a("--force", action="store_true", help="recompute every modality even if up to date")


def config_from_args(args: argparse.Namespace) -> EmbedConfig:
  """EmbedConfig from parsed CLI flags."""
  kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(EmbedConfig)
        if hasattr(args, f.name) and f.name not in ("captions", "interests")}
  return EmbedConfig(captions=args.captions == "on", interests=args.interests == "on", **kw)


def main(args: argparse.Namespace) -> int:
  """CLI entry: runs the stage and prints a one-line summary per modality."""
  schema.require_prepared(args.data)
  try:
    report = run(args.data, config_from_args(args), progress=True)
  except (io_utils.BadInputError, FileNotFoundError, ValueError, ImportError) as e:
    if getattr(args, "debug", False):
      raise
    print(f"gr-jax embed: error: {e}", file=sys.stderr)
    return 1
  for mod in ("text", "image", "fused"):
    sec = report.get(mod) or {}
    state = "up to date" if sec.get("skipped") else sec.get("status", "written")
    print(f"{mod:6s} {state:12s} dim={sec.get('dim')} {sec.get('summary', '')}")
  print(f"-> {os.path.join(args.data, layout.EMBEDDINGS_DIR)}")
  return 0


def run(data_dir: str, config: EmbedConfig = EmbedConfig(), progress: bool = False) -> dict:
  """Computes (or reuses) every modality; returns the report written to report.json."""
  from gr_jax.embed import embedder  # Heavy imports stay out of `gr-jax --help`.
  return embedder.Embedder(data_dir, config, progress).run()


def read_embeddings(data_dir: str, modalities: Sequence[str]
                    ) -> tuple[list[str], dict[str, np.ndarray]]:
  """Item ids and float32 [N, D] embeddings of DIR/embeddings/, with clear errors on bad input."""
  emb_dir = os.path.join(data_dir, layout.EMBEDDINGS_DIR)
  ids_path = os.path.join(emb_dir, layout.EMBED_IDS)
  if not os.path.exists(ids_path):
    raise FileNotFoundError(f"{ids_path} not found: run `gr-jax embed --data {data_dir}` first")
  ids, first_line = [], {}
  for lineno, line in io_utils.iter_lines(ids_path):
    item = line.rstrip("\n")
    if not item.strip():
      raise io_utils.BadInputError(ids_path, lineno, "item_id", "empty item id")
    if item in first_line:
      raise io_utils.BadInputError(ids_path, lineno, "item_id",
                                   f"duplicate item id {item!r} (first on line {first_line[item]})")
    first_line[item] = lineno
    ids.append(item)
  data = {}
  for m in modalities:
    path = os.path.join(emb_dir, f"{m}.npy")
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path} not found: the embed stage did not write the '{m}' modality")
    try:
      arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as e:
      raise io_utils.BadInputError(path, None, None, f"not a .npy array ({e})") from e
    if arr.ndim != 2 or arr.shape[1] == 0:
      raise io_utils.BadInputError(path, None, None, f"expected a [N, D] matrix, got shape {arr.shape}")
    if arr.shape[0] != len(ids):
      raise io_utils.BadInputError(path, None, None,
                                   f"{arr.shape[0]} rows but {ids_path} has {len(ids)} item ids")
    if not np.issubdtype(arr.dtype, np.floating):
      raise io_utils.BadInputError(path, None, None, f"expected floats, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    bad = np.flatnonzero(~np.all(np.isfinite(arr), axis=1))
    if bad.size:
      raise io_utils.BadInputError(
          path, int(bad[0]) + 1, f"row {int(bad[0])} (item {ids[bad[0]]!r})",
          f"NaN/inf values in {bad.size} row(s); first rows: {bad[:5].tolist()}")
    data[m] = arr
  return ids, data


def load_embeddings(data_dir: str, modality: str) -> tuple[list[str], np.ndarray]:
  """(item ids, float32 [N, D]) of DIR/embeddings/<modality>.npy, checked like read_embeddings."""
  ids, data = read_embeddings(data_dir, [modality])
  return ids, data[modality]
