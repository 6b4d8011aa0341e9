"""The embed stage's work: per-modality fingerprints, encoding, fallbacks, atomic writes."""

from __future__ import annotations

import collections
import dataclasses
import os
import time

import numpy as np

from gr_jax import io_utils
from gr_jax.data import images
from gr_jax.data import layout
from gr_jax.data import schema
from gr_jax.embed import fusion, precomputed, texts
from gr_jax.embed.config import EmbedConfig
from gr_jax.encoders import fingerprint

_EXAMPLES = 10
# report.json names a URL image by what this stage did with it.
_REPORTED = {images.REMOTE: "remote_not_fetched"}
STALE_FILES = ("text.npy", "text_enriched.npy", "image.npy", "image_valid.npy", layout.FUSED,
               layout.EMBED_MANIFEST)


def read_catalog(data_dir: str) -> list[schema.Item]:
  """items.jsonl in file order; empty catalogs and duplicate ids are errors."""
  path = os.path.join(data_dir, layout.ITEMS)
  items, seen = [], set()
  for item in schema.read_items(data_dir):
    if item.item_id in seen:
      raise io_utils.BadInputError(path, None, "item_id", f"duplicate item id {item.item_id!r}")
    if "\n" in item.item_id or not item.item_id.strip():
      raise io_utils.BadInputError(path, None, "item_id", f"unusable item id {item.item_id!r}")
    seen.add(item.item_id)
    items.append(item)
  if not items:
    raise io_utils.BadInputError(path, None, None, "no items")
  return items


def _stamp(path: str | None):
  return None if not path or path == "index" else [os.path.abspath(path),
                                                   fingerprint.file_stamp(path)]


class Embedder:
  """Runs text -> (enriched text) -> image -> fused for one dataset directory."""

  def __init__(self, data_dir: str, config: EmbedConfig, progress: bool = False):
    self.data_dir, self.config, self.progress = data_dir, config, progress
    self.items = read_catalog(data_dir)
    self.ids = [it.item_id for it in self.items]
    self.out_dir = os.path.join(data_dir, layout.EMBEDDINGS_DIR)
    self.ids_sha = fingerprint.Hasher(self.ids).hexdigest()
    manifest = io_utils.read_json_or_empty(os.path.join(self.out_dir, layout.EMBED_MANIFEST))
    self.stale_files = []
    if manifest.get("ids_sha256") != self.ids_sha:
      manifest = {}
      # Rows of existing arrays follow another item list: never leave them beside the new ids.
      self.stale_files = [f for f in STALE_FILES if os.path.exists(self._path(f))]
    self.manifest = {"ids_sha256": self.ids_sha, "modalities": manifest.get("modalities", {})}
    self.prev_report = io_utils.read_json_or_empty(os.path.join(self.out_dir, layout.EMBED_REPORT))
    self.report: dict = {"items": len(self.items), "config": dataclasses.asdict(config)}
    self.arrays: dict[str, np.ndarray] = {}
    self.fps: dict[str, str | None] = {}
    self._text_encoder = None

  # ---------------------------------------------------------------- helpers
  def _path(self, name: str) -> str:
    return os.path.join(self.out_dir, name)

  def _up_to_date(self, name: str, fp: str) -> bool:
    """Same inputs (fingerprint) and the very bytes this stage wrote (sha256, else finite)."""
    entry = self.manifest["modalities"].get(name)
    if self.config.force or not entry or entry.get("fingerprint") != fp:
      return False
    digests = entry.get("sha256", {})
    for fname, shape in entry.get("files", {}).items():
      try:
        arr = np.load(self._path(fname), mmap_mode="r", allow_pickle=False)
      except (OSError, ValueError):
        return False
      if list(arr.shape) != shape:
        return False
      if fname in digests:
        if fingerprint.file_digest(self._path(fname)) != digests[fname]:
          return False  # Edited on disk since it was written (e.g. a NaN written into it).
      elif np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        return False
    return True

  def _skip(self, name: str) -> dict:
    section = dict(self.prev_report.get(name) or {})
    section["skipped"] = True
    self.report[name] = section
    return section

  def _save(self, name: str, fp: str, files: dict[str, np.ndarray]) -> None:
    for fname, arr in files.items():
      io_utils.atomic_save_npy(self._path(fname), arr)
    self.manifest["modalities"][name] = {
        "fingerprint": fp, "files": {f: list(a.shape) for f, a in files.items()},
        "sha256": {f: fingerprint.file_digest(self._path(f)) for f in files}}
    io_utils.atomic_write_json(self._path(layout.EMBED_MANIFEST), self.manifest)

  def _load(self, fname: str) -> np.ndarray:
    if fname not in self.arrays:
      self.arrays[fname] = np.load(self._path(fname), allow_pickle=False)
    return self.arrays[fname]

  def _precomputed_identity(self, npy: str | None, ids: str | None) -> dict:
    if not npy:
      raise ValueError("the precomputed backend needs an .npy file (--*-npy)")
    return {"encoder": "precomputed", "npy": _stamp(npy), "ids": _stamp(ids) or ids,
            "allow_missing": self.config.allow_missing}

  def _text_identity(self) -> dict:
    c = self.config
    if c.text_backend == "minilm":
      from gr_jax.encoders import minilm
      return minilm.identity(None, c.max_text_tokens)
    if c.text_backend == "http":
      return self._http().identity()
    if c.text_backend == "precomputed":
      return self._precomputed_identity(c.text_npy, c.text_ids)
    if not c.hub_text_model:
      raise ValueError(f"--text_backend {c.text_backend} needs --hub_text_model")
    return {"encoder": c.text_backend, "model": c.hub_text_model, "max_tokens": c.max_text_tokens}

  def _http(self):
    from gr_jax.embed import http_embeddings
    c = self.config
    if not c.http_url or not c.http_model:
      raise ValueError("the http backend needs --http_url and --http_model")
    return http_embeddings.HttpEmbeddingClient(
        c.http_url, c.http_model, api_key_env=c.http_api_key_env, batch_size=c.http_batch_size,
        timeout_s=c.http_timeout, concurrency=c.http_concurrency)

  def _text_model(self):
    if self._text_encoder is None:
      c = self.config
      if c.text_backend == "minilm":
        from gr_jax.encoders import minilm
        self._text_encoder = minilm.get_encoder(c.max_text_tokens, c.text_batch_tokens)
      elif c.text_backend == "http":
        self._text_encoder = self._http()
      elif c.text_backend == "sentence-transformers":
        from gr_jax.embed import hub
        self._text_encoder = hub.SentenceTransformersEncoder(
            c.hub_text_model, allow_download=c.allow_download)
      else:
        from gr_jax.embed import hub
        self._text_encoder = hub.TransformersMeanPoolEncoder(
            c.hub_text_model, max_tokens=c.max_text_tokens, allow_download=c.allow_download)
    return self._text_encoder

  # ---------------------------------------------------------------- modalities
  def text(self) -> None:
    """text.npy from 'title. description.' (fallbacks counted)."""
    c = self.config
    strings, fallback_ids, empty_ids = [], [], []
    for it in self.items:
      s = texts.plain_text(it)
      if not s:
        s = texts.fallback_text(it)
        (fallback_ids if s else empty_ids).append(it.item_id)
      strings.append(s)
    if (fallback_ids or empty_ids) and c.empty_text == "error":
      bad = (fallback_ids + empty_ids)[0]
      raise io_utils.BadInputError(os.path.join(self.data_dir, layout.ITEMS), None, "title",
                                   f"item {bad!r} has an empty title and description "
                                   f"({len(fallback_ids) + len(empty_ids)} such items)")
    self.text_strings = strings
    fp = fingerprint.Hasher("text", self.ids_sha, self._text_identity(), strings).hexdigest()
    self.fps["text"] = fp
    if self._up_to_date("text", fp):
      self._skip("text")
      return
    start = time.time()
    section = {"backend": c.text_backend,
               "empty_text_fallback_to_brand_categories": len(fallback_ids),
               "empty_text_no_fallback": len(empty_ids),
               "empty_text_examples": (fallback_ids + empty_ids)[:_EXAMPLES],
               "policy": "empty title+description -> brand + categories -> "
                         "embedding of the empty string"}
    if c.text_backend == "precomputed":
      arr, _, rep = precomputed.load(c.text_npy, self.ids, c.text_ids, c.allow_missing)
      section["import"] = rep
    else:
      arr = self._text_model().encode(strings, progress=self.progress, desc="text")
    self._finish("text", fp, arr, section, start, {"text.npy": arr})

  def _finish(self, name, fp, arr, section, start, files) -> None:
    self.arrays.update(files)
    self._save(name, fp, files)
    seconds = time.time() - start
    section.update(dim=int(arr.shape[1]), seconds=round(seconds, 3),
                   items_per_s=round(len(self.items) / max(seconds, 1e-9), 2), skipped=False)
    self.report[name] = section

  def text_enriched(self) -> None:
    """text_enriched.npy: title, CMSA caption, MDIM interests, description."""
    c = self.config
    caps, tags, info = texts.load_enrichment(self.data_dir, c.captions, c.interests)
    strings = [texts.enriched_text(it, caps.get(it.item_id, ""), tags.get(it.item_id)) or plain
               for it, plain in zip(self.items, self.text_strings)]
    self.enriched_strings = strings
    if c.fused_backend != "concat":  # Only the concat fusion embeds enriched text here.
      self.fps["text_enriched"] = None
      return
    n_cap = sum(it.item_id in caps for it in self.items)
    n_tag = sum(it.item_id in tags for it in self.items)
    same = c.text_backend == "precomputed" or strings == self.text_strings
    fp = fingerprint.Hasher("text_enriched", self.fps["text"],
                            None if same else strings).hexdigest()
    self.fps["text_enriched"] = fp
    if self._up_to_date("text_enriched", fp):
      self._skip("text_enriched")
      return
    start = time.time()
    section = {"captions": info["captions"], "interests": info["interests"],
               "items_with_caption": n_cap, "items_with_interests": n_tag,
               "order": "title. caption. Interests: tags. description."}
    if same:
      arr = self._load("text.npy")
      section["note"] = ("no enrichment: reuses text.npy" if c.text_backend != "precomputed"
                         else "precomputed text: enrichment not applied")
    else:
      arr = self._text_model().encode(strings, progress=self.progress, desc="enriched text")
    self._finish("text_enriched", fp, arr, section, start, {"text_enriched.npy": arr})

  def _image_encoder(self):
    c = self.config
    if c.image_backend == "efficientnet-lite0":
      from gr_jax.encoders import efficientnet_lite
      return efficientnet_lite.get_encoder(c.image_size, c.image_batch_size)
    from gr_jax.embed import hub
    return hub.OpenClipImageEncoder(c.hub_image_model, c.hub_image_pretrained,
                                    batch_size=c.image_batch_size)

  def _image_identity(self) -> dict:
    c = self.config
    if c.image_backend == "efficientnet-lite0":
      from gr_jax.encoders import efficientnet_lite
      return efficientnet_lite.identity(None, c.image_size)
    if c.image_backend == "precomputed":
      return self._precomputed_identity(c.image_npy, c.image_ids)
    if not c.hub_image_model:
      raise ValueError("--image_backend open_clip needs --hub_image_model")
    return {"encoder": "open_clip", "model": c.hub_image_model,
            "pretrained": c.hub_image_pretrained}

  def image(self) -> None:
    """image.npy + image_valid.npy (or nothing when no item has a usable image)."""
    c = self.config
    resolved = [images.resolve(self.data_dir, it.image) for it in self.items]
    self.image_paths = [r.path for r in resolved]
    if c.image_backend == "none":
      self.fps["image"] = None
      self.report["image"] = {"status": "disabled", "skipped": False}
      return
    fp = fingerprint.Hasher(
        "image", self.ids_sha, self._image_identity(),
        [[it.image, fingerprint.file_stamp(p)] for it, p in zip(self.items, self.image_paths)]
    ).hexdigest()
    if self._up_to_date("image", fp):
      self.fps["image"] = None if self.manifest["modalities"]["image"].get("absent") else fp
      self._skip("image")
      return
    start = time.time()
    reasons = {i: _REPORTED.get(r.status, r.status) for i, r in enumerate(resolved)
               if r.status != images.OK}
    section = {"backend": c.image_backend}
    if c.image_backend == "precomputed":
      feats, ok, rep = precomputed.load(c.image_npy, self.ids, c.image_ids, c.allow_missing)
      section["import"] = rep
      reasons = {i: "no_precomputed_row" for i in np.flatnonzero(~ok)}
    else:
      encoder = self._image_encoder()
      kwargs = {"keep_logits": False} if c.image_backend == "efficientnet-lite0" else {}
      feats, _, ok, failures = encoder.encode_paths(
          self.image_paths, progress=self.progress, workers=c.workers, **kwargs)
      reasons.update(failures)
    counts = collections.Counter(r.split(":")[0] for r in reasons.values())
    examples = collections.defaultdict(list)
    for i, r in sorted(reasons.items()):
      key = r.split(":")[0]
      if len(examples[key]) < _EXAMPLES:
        examples[key].append(self.ids[i] if key != images.UNREADABLE else f"{self.ids[i]}: {r}")
    section.update(ok=int(ok.sum()), failed=dict(counts), failed_examples=dict(examples))
    if reasons and c.image_fallback == "error":
      raise io_utils.BadInputError(os.path.join(self.data_dir, layout.ITEMS), None, "image",
                                   f"{len(reasons)} items without a usable image {dict(counts)}; "
                                   f"e.g. {self.ids[min(reasons)]!r}")
    if not ok.any():
      for fname in ("image.npy", "image_valid.npy"):
        if os.path.exists(self._path(fname)):
          os.remove(self._path(fname))
      self.fps["image"] = None
      self.manifest["modalities"]["image"] = {"fingerprint": fp, "absent": True, "files": {}}
      io_utils.atomic_write_json(self._path(layout.EMBED_MANIFEST), self.manifest)
      section.update(status="no usable images: image.npy not written", dim=None,
                     seconds=round(time.time() - start, 3), skipped=False)
      self.report["image"] = section
      return
    feats = fusion.normalize(feats)
    if not ok.all():
      feats[~ok] = fusion.normalize(feats[ok].mean(axis=0, keepdims=True))[0]
      section["policy"] = ("rows without an image = normalised mean of valid image features; "
                           "image_valid.npy is False there; fused uses text only")
    self.fps["image"] = fp
    self._finish("image", fp, feats, section, start,
                 {"image.npy": feats, "image_valid.npy": ok.astype(bool)})
    section["summary"] = f"ok={int(ok.sum())} failed={dict(counts)}"

  def fused(self) -> None:
    """fused.npy: see fusion.py (concat), an http multimodal endpoint, or an import."""
    c = self.config
    if c.fused_backend == "concat":
      cfg = fusion.FusionConfig(text_weight=c.text_weight, center=c.center, dim=c.fused_dim)
      cfg.validate()
      identity = {"fusion": dataclasses.asdict(cfg)}
      parts = [self.fps["text_enriched"], self.fps.get("image")]
    elif c.fused_backend == "http":
      identity = self._http().identity()
      parts = [self.enriched_strings,
               [fingerprint.file_stamp(p) for p in self.image_paths]]
    else:
      identity, parts = self._precomputed_identity(c.fused_npy, c.fused_ids), []
    fp = fingerprint.Hasher("fused", self.ids_sha, identity, parts).hexdigest()
    if self._up_to_date("fused", fp):
      self._skip("fused")
      return
    start = time.time()
    section = {"backend": c.fused_backend}
    if c.fused_backend == "concat":
      text = self._load("text_enriched.npy")
      if self.fps.get("image") is None:
        image, ok = None, None
      else:
        image, ok = self._load("image.npy"), self._load("image_valid.npy")
      arr = fusion.fuse(text, image, ok, cfg)
      section.update(definition="[sqrt(w)*t, sqrt(1-w)*v], blocks centred + unit-norm; "
                     "items without image: [t, 0]", text_weight=cfg.text_weight,
                     center=cfg.center, pca_dim=cfg.dim,
                     text_only_rows=int(len(arr) if ok is None else (~ok).sum()))
    elif c.fused_backend == "http":
      arr = self._http().encode_multimodal(self.enriched_strings, self.image_paths,
                                           progress=self.progress)
    else:
      arr, _, rep = precomputed.load(c.fused_npy, self.ids, c.fused_ids, c.allow_missing)
      section["import"] = rep
    self._finish("fused", fp, arr, section, start, {layout.FUSED: arr})

  def run(self) -> dict:
    """Runs all modalities and writes ids.txt, manifest.json and report.json."""
    os.makedirs(self.out_dir, exist_ok=True)
    for fname in self.stale_files:
      os.remove(self._path(fname))
    ids_text = "".join(i + "\n" for i in self.ids)
    ids_path = self._path(layout.EMBED_IDS)
    try:
      with open(ids_path, encoding="utf-8") as f:
        current = f.read()
    except OSError:
      current = None
    if current != ids_text:
      io_utils.atomic_write_text(ids_path, ids_text)
    self.text()
    self.text_enriched()
    self.image()
    self.fused()
    io_utils.atomic_write_json(self._path(layout.EMBED_MANIFEST), self.manifest)
    io_utils.atomic_write_json(self._path(layout.EMBED_REPORT), self.report)
    return self.report
