"""PNG images of synthetic items: shape = category, backdrop = style, fill = colour and pattern."""

from __future__ import annotations

import concurrent.futures
import functools
import os
import struct
import zlib
from typing import Sequence

import numpy as np
import tqdm
from PIL import Image, ImageDraw

from gr_jax import io_utils
from gr_jax.data import synthetic_text as vocab

# RGB of synthetic_text.COLOUR_NAMES (well separated, so the dominant colour names the factor).
COLOUR_RGB = np.array([
    [210, 40, 40], [240, 140, 30], [235, 205, 40], [50, 160, 60], [30, 150, 150],
    [40, 80, 200], [130, 60, 180], [235, 120, 170], [130, 80, 40], [35, 35, 35]], np.float64)
# Backdrops per style (light and nearly grey, so they never compete with the item colour).
_BACKGROUND = {"classic": (246, 242, 232), "modern": (255, 255, 255), "sporty": (252, 252, 252),
               "vintage": (238, 230, 212), "minimalist": (250, 250, 250), "rustic": (236, 232, 224)}
_DECOR = {"classic": (175, 175, 175), "modern": (205, 205, 205), "sporty": (214, 214, 218),
          "vintage": (218, 206, 184), "minimalist": (250, 250, 250), "rustic": (212, 204, 192)}
_STYLE_SCALE = {"minimalist": 0.78}
# Category variant inside a department: (x stretch, y stretch, hollow centre).
_VARIANTS = [(1.0, 1.0, False), (1.3, 0.72, False), (0.72, 1.2, False), (1.0, 1.0, True)]


def _polygon(shape: str, cx: float, cy: float, rx: float, ry: float, rot: float) -> list:
  """Vertices of a department shape (None for the ellipse) centred at (cx, cy)."""
  if shape == "circle":
    return None
  if shape == "star":
    angles = np.arange(10) * np.pi / 5
    radius = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
  else:
    n = {"triangle": 3, "diamond": 4, "square": 4, "hexagon": 6}[shape]
    angles = np.arange(n) * 2 * np.pi / n + (np.pi / 4 if shape == "square" else 0.0)
    radius = np.ones(n) * {"triangle": 1.15, "square": 1.25}.get(shape, 1.0)
  if shape == "triangle":
    cy += 0.25 * ry  # Centre the triangle's area rather than its circumcircle.
  angles = angles - np.pi / 2 + rot
  return list(zip(cx + rx * radius * np.cos(angles), cy + ry * radius * np.sin(angles)))


def _shape_mask(size: int, shape: str, cx, cy, rx, ry, rot) -> np.ndarray:
  mask = Image.new("L", (size, size), 0)
  draw = ImageDraw.Draw(mask)
  poly = _polygon(shape, cx, cy, rx, ry, rot)
  if poly is None:
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
  else:
    draw.polygon(poly, fill=255)
  return np.asarray(mask) > 127


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
  y, x = np.mgrid[0:size, 0:size].astype(np.float32)
  return y, x


@functools.lru_cache(maxsize=256)
def _pattern_mask(size: int, pattern: str, phase: int) -> np.ndarray:
  """Where the pattern colour goes (about a quarter to a third of the area)."""
  s = size / 64.0
  y, x = _grid(size)
  p = phase * s
  if pattern == "solid":
    return np.zeros((size, size), bool)
  if pattern == "stripes":
    return (y + p) % (9 * s) < 3 * s
  if pattern == "diagonal":
    return (x + y + p) % (10 * s) < 3.5 * s
  if pattern == "dots":
    period = 8 * s
    dx, dy = (x + p) % period - period / 2, (y + p) % period - period / 2
    return dx ** 2 + dy ** 2 < (2.3 * s) ** 2
  if pattern == "grid":
    return ((x + p) % (11 * s) < 2 * s) | ((y + p) % (11 * s) < 2 * s)
  if pattern == "waves":
    return (y + 3 * s * np.sin(x * 2 * np.pi / (16 * s)) + p) % (9 * s) < 3 * s
  raise ValueError(f"unknown pattern {pattern!r}")


@functools.lru_cache(maxsize=256)
def _backdrop(size: int, style: str, phase: int) -> np.ndarray:
  img = np.empty((size, size, 3), np.float32)
  img[:] = _BACKGROUND[style]
  y, x = _grid(size)
  s = size / 64.0
  decor = np.zeros((size, size), bool)
  if style == "classic":  # Double frame.
    edge = np.minimum(np.minimum(x, y), np.minimum(size - 1 - x, size - 1 - y))
    decor = (edge < 1.5 * s) | ((edge >= 3 * s) & (edge < 4 * s))
  elif style == "sporty":  # Diagonal speed bands.
    decor = np.abs(((x - y + phase * s) % (32 * s)) - 16 * s) < 4 * s
  elif style == "vintage":  # Darker corners.
    decor = (x - size / 2) ** 2 + (y - size / 2) ** 2 > (0.62 * size) ** 2
  elif style == "rustic":  # Wood grain.
    decor = (y + 2 * s * np.sin(x / (5 * s) + phase)) % (6 * s) < 1.2 * s
  elif style == "modern":  # Drop shadow under the item is drawn by the caller.
    pass
  img[decor] = _DECOR[style]
  img.flags.writeable = False
  return img


def render(shape: str, variant: int, style: str, colour_rgb: np.ndarray, pattern: str,
           size: int = 64, dx: float = 0.0, dy: float = 0.0, scale: float = 1.0,
           rot: float = 0.0, phase: int = 0) -> np.ndarray:
  """One item image as uint8 [size, size, 3]."""
  sx, sy, hollow = _VARIANTS[variant]
  r = 0.3 * size * scale * _STYLE_SCALE.get(style, 1.0)
  cx, cy = size / 2 + dx * size / 64, size / 2 + dy * size / 64
  rx, ry = r * sx, r * sy
  img = _backdrop(size, style, phase).copy()
  body = _shape_mask(size, shape, cx, cy, rx, ry, rot)
  edge = body & ~(np.roll(body, 1, 0) & np.roll(body, -1, 0) & np.roll(body, 1, 1) &
                  np.roll(body, -1, 1))  # Outer outline only.
  if hollow:
    body &= ~_shape_mask(size, shape, cx, cy, 0.38 * rx, 0.38 * ry, rot)
  if style == "modern":
    shadow = np.roll(np.roll(body, max(1, size // 24), 0), max(1, size // 24), 1) & ~body
    img[shadow] = _DECOR["modern"]
  dark = colour_rgb.mean() < 80
  accent = colour_rgb + 0.55 * (255 - colour_rgb) if dark else 0.55 * colour_rgb
  img[body] = colour_rgb
  img[body & _pattern_mask(size, pattern, phase)] = accent
  img[edge] = 0.7 * accent + 0.3 * colour_rgb
  return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
  return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(pixels_HxWx3: np.ndarray) -> bytes:
  """Encodes uint8 RGB as an 8-bit PNG; the bytes depend only on the pixels (and zlib)."""
  h, w, _ = pixels_HxWx3.shape
  rows = np.zeros((h, 1 + 3 * w), np.uint8)  # Filter byte 0 (None) before every row.
  rows[:, 1:] = pixels_HxWx3.reshape(h, 3 * w)
  header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
  return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) +
          _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _chunk(b"IEND", b""))


def write_images(codes: dict[str, np.ndarray], item_ids: Sequence[str], image_dir: str,
                 image_size: int, rng: np.random.Generator, progress: bool = True) -> int:
  """Writes `<image_dir>/<item_id>.png` (atomically) for every item; returns the count."""
  n = len(item_ids)
  jitter = rng.uniform(-14, 14, (n, 3))
  dxy = rng.uniform(-4, 4, (n, 2))
  scale = rng.uniform(0.88, 1.05, n)
  rot = rng.uniform(-0.15, 0.15, n)
  phase = rng.integers(0, 8, n)
  os.makedirs(image_dir, exist_ok=True)
  # fsync dominates the cost of small files; a few writer threads overlap them.
  pool = concurrent.futures.ThreadPoolExecutor(max_workers=8)
  pending = []
  for k in tqdm.trange(n, desc="synthetic images", disable=not progress):
    cat = int(codes["category"][k])
    pixels = render(
        shape=vocab.SHAPES[int(codes["department"][k])], variant=cat % 4,
        style=vocab.STYLE_NAMES[int(codes["style"][k])],
        colour_rgb=np.clip(COLOUR_RGB[int(codes["colour"][k])] + jitter[k], 0, 255),
        pattern=vocab.PATTERN_NAMES[int(codes["pattern"][k])], size=image_size,
        dx=dxy[k, 0], dy=dxy[k, 1], scale=scale[k], rot=rot[k], phase=int(phase[k]))
    pending.append(pool.submit(_write, os.path.join(image_dir, item_ids[k] + ".png"),
                               png_bytes(pixels)))
    if len(pending) >= 256:
      _drain(pending)
  _drain(pending)
  pool.shutdown()
  return n


def _write(path: str, data: bytes) -> None:
  with io_utils.atomic_open(path, "wb") as f:
    f.write(data)


def _drain(pending: list) -> None:
  """Waits for queued writes (re-raising the first error) and empties the queue."""
  for future in pending:
    future.result()
  pending.clear()
