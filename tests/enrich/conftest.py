"""Fixture datasets for the enrich tests: items.jsonl + small PNGs drawn with numpy/PIL."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from PIL import ImageDraw

from gr_jax_tasks import testing

S = 72
COLOURS = {"red": (220, 20, 30), "blue": (20, 70, 240), "green": (20, 175, 50),
           "yellow": (250, 225, 30)}


def _polygon(shape: str, c: float, r: float, rot: float):
  if shape == "star":
    ang = np.arange(10) * np.pi / 5
    rad = np.where(np.arange(10) % 2 == 0, 1.0, 0.45) * r
  else:
    n = {"triangular": 3, "diamond": 4, "hexagonal": 6}[shape]
    ang = np.arange(n) * 2 * np.pi / n
    rad = np.full(n, r)
  ang = ang - np.pi / 2 + rot
  return [(c + a * np.cos(t), c + a * np.sin(t)) for a, t in zip(rad, ang)]


def draw(shape: str, colour: str, pattern: str = "plain", size: int = S, rot: float = 0.0,
         background=(255, 255, 255)) -> np.ndarray:
  """An image with one coloured object; patterns use a darker shade of the colour."""
  c, r = size / 2, size * 0.36
  mask_img = Image.new("L", (size, size), 0)
  pen = ImageDraw.Draw(mask_img)
  if shape == "square":
    pen.rectangle([c - r, c - r, c + r, c + r], fill=255)
  elif shape == "round":
    pen.ellipse([c - r, c - r, c + r, c + r], fill=255)
  elif shape == "wide":
    pen.rectangle([c - 1.25 * r, c - 0.5 * r, c + 1.25 * r, c + 0.5 * r], fill=255)
  else:
    pen.polygon(_polygon(shape, c, r * 1.2, rot), fill=255)
  mask = np.asarray(mask_img) > 127
  yy, xx = np.mgrid[:size, :size]
  s = size / 64
  accent = {"vertical stripes": (xx // (4 * s)) % 2 == 1,
            "horizontal stripes": (yy // (4 * s)) % 2 == 1,
            "polka dots": ((yy % (9 * s)) - 4.5 * s) ** 2 + ((xx % (9 * s)) - 4.5 * s) ** 2 < (2.2 * s) ** 2,
            "checks": ((yy // (6 * s)) + (xx // (6 * s))) % 2 == 0,
            "plain": np.zeros((size, size), bool)}[pattern]
  im = np.empty((size, size, 3), np.uint8)
  im[:] = background
  rgb = np.array(COLOURS[colour], np.float64)
  im[mask] = rgb.astype(np.uint8)
  im[mask & accent] = (0.55 * rgb).astype(np.uint8)
  return im


SPECS = [("square", "red", "plain"), ("round", "blue", "plain"),
         ("square", "green", "vertical stripes"), ("round", "yellow", "polka dots"),
         ("triangular", "red", "plain"), ("hexagonal", "blue", "horizontal stripes"),
         ("wide", "green", "plain"), ("star", "red", "checks")]
TITLES = ["Ceramic coffee mug", "Wireless gaming controller for Xbox", "Yoga mat non slip",
          "Stainless steel water bottle", "Kids digital microscope", "Leather wallet",
          "Garden hose nozzle", "Cotton throw pillow"]


def write_dataset(data_dir: str, n: int = 8, extra_no_image: bool = True) -> list[dict]:
  """Writes `n` imaged items (+ one without image, one with a missing file); returns the items."""
  os.makedirs(os.path.join(data_dir, "images"), exist_ok=True)
  testing.mark_prepared(data_dir)
  items = []
  for k in range(n):
    shape, colour, pattern = SPECS[k % len(SPECS)]
    Image.fromarray(draw(shape, colour, pattern)).save(
        os.path.join(data_dir, "images", f"i{k:03d}.png"))
    items.append({"item_id": f"i{k:03d}", "title": f"{TITLES[k % len(TITLES)]} {k}",
                  "description": f"Model {k}. Great for everyday use.", "brand": f"Brand{k % 3}",
                  "categories": ["Home", TITLES[k % len(TITLES)].split()[-1].title()],
                  "image": f"images/i{k:03d}.png"})
  if extra_no_image:
    items.append({"item_id": "z_noimg", "title": "Red wireless gaming headset", "description": "",
                  "brand": "", "categories": [], "image": None})
    items.append({"item_id": "z_missing", "title": "Blue cotton scarf", "description": "",
                  "brand": "", "categories": [], "image": "images/absent.png"})
  with open(os.path.join(data_dir, "items.jsonl"), "w", encoding="utf-8") as f:
    for item in items:
      f.write(json.dumps(item) + "\n")
  return items


@pytest.fixture
def dataset(tmp_path):
  """A fixture dataset directory with 8 imaged items and 2 without a usable image."""
  d = str(tmp_path / "data")
  write_dataset(d)
  return d


@pytest.fixture
def make_dataset():
  """The dataset writer itself, for tests that need several directories or sizes."""
  return write_dataset


@pytest.fixture
def draw_image():
  """`draw(shape, colour, pattern)` -> uint8 image."""
  return draw
