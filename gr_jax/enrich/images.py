"""Item images for enrichment: resolve (with content hash), decode, and encode as data URLs."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from gr_jax.data import images as data_images
from gr_jax.enrich import cache

OK, NO_IMAGE, REMOTE, MISSING, UNREADABLE = (data_images.OK, data_images.NO_IMAGE, data_images.REMOTE,
                                             data_images.MISSING, data_images.UNREADABLE)
ImageRef = data_images.ImageRef


# URLs a chat backend can fetch itself; other schemes (s3://, gs://, ftp://) count as missing.
SENDABLE_URL_PREFIXES = ("http://", "https://", "data:")


def resolve(data_dir: str, ref: str | None) -> ImageRef:
  """data.images.resolve plus the content hash of a local file (the cache key sees it)."""
  image = data_images.resolve(data_dir, ref)
  if image.status == REMOTE and not image.url.startswith(SENDABLE_URL_PREFIXES):
    return ImageRef(MISSING)
  if image.status == OK:
    image.sha = cache.file_sha(image.path)
  return image


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
