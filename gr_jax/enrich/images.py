"""Item image references for enrichment: resolve, hash, decode, and encode as data URLs."""

from __future__ import annotations

import base64
import dataclasses
import io
import os

import numpy as np
from PIL import Image

from gr_jax.enrich import cache

OK = "ok"
NO_IMAGE = "no_image"          # items.jsonl "image" is null or empty
REMOTE = "remote"              # a URL (sent as-is to HTTP backends; never downloaded here)
MISSING = "missing_file"       # local path that does not exist
UNREADABLE = "unreadable"      # exists but PIL cannot decode it

_URL_PREFIXES = ("http://", "https://", "data:")


@dataclasses.dataclass
class ImageRef:
  """Where an item's image is and whether it can be used."""
  status: str                 # OK | NO_IMAGE | REMOTE | MISSING | UNREADABLE
  path: str | None = None     # local file (status OK)
  url: str | None = None      # remote URL (status REMOTE)
  sha: str | None = None      # content hash of the local file

  def hash_input(self):
    """What the cache key sees: file content hash, URL, or the status."""
    return self.sha or self.url or self.status


def resolve(data_dir: str, ref: str | None) -> ImageRef:
  """Maps an items.jsonl `image` value (relative path, absolute path, URL, None) to an ImageRef."""
  if ref is None or not str(ref).strip():
    return ImageRef(NO_IMAGE)
  ref = str(ref).strip()
  if ref.startswith(_URL_PREFIXES):
    return ImageRef(REMOTE, url=ref)
  path = ref if os.path.isabs(ref) else os.path.join(data_dir, ref)
  if not os.path.isfile(path):
    return ImageRef(MISSING)
  return ImageRef(OK, path=path, sha=cache.file_sha(path))


def load_rgb(path: str, max_side: int = 96) -> np.ndarray:
  """Decodes to uint8 [H, W, 3] (alpha composited on white), downscaled so max(H, W) <= max_side."""
  with Image.open(path) as im:
    im.draft("RGB", (max_side, max_side))
    if im.mode in ("RGBA", "LA", "P", "PA"):
      im = im.convert("RGBA")
      background = Image.new("RGBA", im.size, (255, 255, 255, 255))
      im = Image.alpha_composite(background, im)
    im = im.convert("RGB")
    if max(im.size) > max_side:
      scale = max_side / max(im.size)
      size = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
      im = im.resize(size, Image.Resampling.BOX)
    return np.asarray(im, dtype=np.uint8)


def data_url(path: str, max_side: int = 1024) -> str:
  """`data:image/...;base64,...` of a local image; re-encoded (PNG/JPEG) only if larger than max_side."""
  with Image.open(path) as im:
    fmt = (im.format or "").upper()
    if max(im.size) <= max_side and fmt in ("PNG", "JPEG", "WEBP", "GIF"):
      with open(path, "rb") as f:
        raw = f.read()
      mime = "jpeg" if fmt == "JPEG" else fmt.lower()
      return f"data:image/{mime};base64," + base64.b64encode(raw).decode("ascii")
    im.thumbnail((max_side, max_side))
    has_alpha = im.mode in ("RGBA", "LA", "P", "PA")
    im = im.convert("RGBA" if has_alpha else "RGB")
    buf = io.BytesIO()
    im.save(buf, "PNG" if has_alpha else "JPEG", quality=90)
    mime = "png" if has_alpha else "jpeg"
    return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def decode_data_url(url: str) -> Image.Image:
  """PIL image of a base64 data URL (used by local backends and tests)."""
  if not url.startswith("data:") or ";base64," not in url:
    raise ValueError("not a base64 data URL")
  return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
