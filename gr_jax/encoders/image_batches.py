"""Image decoding for encoders: square RGB crops in threaded batches; failures are reported."""

from __future__ import annotations

import concurrent.futures
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from gr_jax.data import images as data_images

UNREADABLE = data_images.UNREADABLE


def load_square(path: str, size: int) -> np.ndarray:
  """Decodes an image to uint8 [size, size, 3]: RGB on white, shorter side resized, centre crop."""
  with Image.open(path) as im:
    im.draft("RGB", (size, size))  # Fast JPEG downscale when much larger than needed.
    if im.mode in ("RGBA", "LA", "P"):
      im = im.convert("RGBA")
      background = Image.new("RGBA", im.size, (255, 255, 255, 255))
      im = Image.alpha_composite(background, im)
    im = im.convert("RGB")
    w, h = im.size
    if w < 1 or h < 1:
      raise ValueError("empty image")
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    im = im.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    im = im.crop((left, top, left + size, top + size))
    return np.asarray(im, dtype=np.uint8)


def _try_load(path: str | None, size: int) -> tuple[np.ndarray | None, str | None]:
  if path is None:
    return None, None
  try:
    return load_square(path, size), None
  except Exception as e:  # noqa: BLE001 - any decode failure is a counted fallback.
    return None, f"{UNREADABLE}: {type(e).__name__}: {e}"[:200]


def iter_batches(paths: Sequence[str | None], size: int, batch_size: int,
                 workers: int = 4) -> Iterator[tuple[list[int], np.ndarray, dict[int, str]]]:
  """Yields (row indices, uint8 [b, size, size, 3], {row: failure}) with decoding in threads.

  Rows whose path is None are skipped silently (the caller already knows why);
  decode failures are returned so the caller can count them. The next batch
  is decoded while the caller runs the model on the current one.
  """
  rows = [i for i, p in enumerate(paths) if p is not None]
  chunks = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
  with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
    def submit(chunk):
      return [pool.submit(_try_load, paths[i], size) for i in chunk]
    pending = submit(chunks[0]) if chunks else None
    for k, chunk in enumerate(chunks):
      results = [f.result() for f in pending]
      pending = submit(chunks[k + 1]) if k + 1 < len(chunks) else None
      good, arrays, failures = [], [], {}
      for i, (arr, err) in zip(chunk, results):
        if arr is None:
          failures[i] = err or UNREADABLE
        else:
          good.append(i)
          arrays.append(arr)
      batch = np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)
      yield good, batch, failures
