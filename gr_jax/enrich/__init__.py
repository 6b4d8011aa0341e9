"""CMSA captions and MDIM interest tags: file layout and the readers later stages use.

Files under `DIR/enrich/` (written by `gr-jax enrich`, see stage.py):
  captions.jsonl          one record per item for the active backend/model/prompt:
                          {"item_id", "caption", "status": "ok"|"failed", "backend", "model",
                           "prompt_version", "key", "content_hash", "image", "attempts", ...}
  interests.jsonl         {"item_id", "interests": [2-4 str], "status", "backend", ...}
  captions.archive.jsonl  records of other backends/models/prompts or stale content,
  interests.archive.jsonl kept so that switching back reuses them (cache hits).
  view.json               ablation view: {"captions": "on"|"off", "interests": "on"|"off",
                          "caption_noise": p, "noise_seed": s}
  report.json             counts (done, cached, failed, retried, images) and throughput.

The caption noise of `gr-jax enrich --caption_noise p` is applied when captions are
LOADED (here), not written: captions.jsonl always holds the clean captions and
`load_captions` swaps a deterministic fraction p of them with other items' captions.
"""

from __future__ import annotations

import os

from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.enrich import noise as noise_lib

# File names of DIR/enrich/ (owned by gr_jax.data.layout).
CAPTIONS, INTERESTS, VIEW, REPORT = (layout.CAPTIONS, layout.INTERESTS, layout.ENRICH_VIEW,
                                     layout.ENRICH_REPORT)
CAPTIONS_ARCHIVE, INTERESTS_ARCHIVE = layout.CAPTIONS_ARCHIVE, layout.INTERESTS_ARCHIVE

DEFAULT_VIEW = {"captions": "on", "interests": "on", "caption_noise": 0.0, "noise_seed": 0}


def enrich_dir(data_dir: str) -> str:
  """`DIR/enrich`."""
  return os.path.join(data_dir, layout.ENRICH_DIR)


enrich_path = layout.enrich_path


def read_view(data_dir: str) -> dict:
  """The ablation view of `DIR/enrich/view.json` (defaults when absent)."""
  path = enrich_path(data_dir, VIEW)
  view = dict(DEFAULT_VIEW)
  if not os.path.exists(path):
    return view
  stored = io_utils.read_json(path)
  if not isinstance(stored, dict):
    raise io_utils.BadInputError(path, None, None, "expected a JSON object")
  for field in ("captions", "interests"):
    if field in stored and stored[field] not in ("on", "off"):
      raise io_utils.BadInputError(path, None, field, "expected 'on' or 'off'")
  p = stored.get("caption_noise", 0.0)
  if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
    raise io_utils.BadInputError(path, None, "caption_noise", "expected a number in [0, 1]")
  view.update(stored)
  return view


def write_view(data_dir: str, view: dict) -> None:
  """Writes `DIR/enrich/view.json` atomically."""
  io_utils.atomic_write_json(enrich_path(data_dir, VIEW), {**DEFAULT_VIEW, **view})


def _read_ok(path: str, field: str, kind) -> dict:
  """{item_id: value} of the 'ok' records of one cache file; the last record of an item wins."""
  out = {}
  if not os.path.exists(path):
    return out
  for line, rec in io_utils.read_jsonl(path, allow_partial_last_line=True):
    if not isinstance(rec, dict):
      raise io_utils.BadInputError(path, line, None, "expected a JSON object")
    item_id = rec.get("item_id")
    if not isinstance(item_id, str):
      raise io_utils.BadInputError(path, line, "item_id", "missing or not a string")
    if rec.get("status", "ok") != "ok":
      continue
    value = rec.get(field)
    if not isinstance(value, kind):
      raise io_utils.BadInputError(path, line, field, f"expected {kind.__name__}")
    if kind is list and not all(isinstance(v, str) for v in value):
      raise io_utils.BadInputError(path, line, field, "expected a list of strings")
    if value:
      out[item_id] = value
  return out


def load_captions(data_dir: str, noise: float | None = None, seed: int | None = None,
                  respect_view: bool = True) -> dict[str, str]:
  """{item_id: caption} of the ok records (missing/failed items absent).

  Args:
    data_dir: the dataset directory.
    noise: fraction of captions replaced with another item's caption; None uses
      `view.json` (`gr-jax enrich --caption_noise`), 0 gives the clean captions.
    seed: seed of the replacement; None uses `view.json`.
    respect_view: if False, ignore `view.json` entirely (captions on, no noise
      unless `noise` is given).
  """
  view = read_view(data_dir) if respect_view else dict(DEFAULT_VIEW)
  if view["captions"] == "off":
    return {}
  captions = _read_ok(enrich_path(data_dir, CAPTIONS), "caption", str)
  p = view["caption_noise"] if noise is None else noise
  s = view["noise_seed"] if seed is None else seed
  return noise_lib.swap_captions(captions, p, s) if p else captions


def load_interests(data_dir: str, respect_view: bool = True) -> dict[str, list[str]]:
  """{item_id: [tags]} of the ok records (missing/failed items absent; {} if interests are off)."""
  if respect_view and read_view(data_dir)["interests"] == "off":
    return {}
  return _read_ok(enrich_path(data_dir, INTERESTS), "interests", list)
