"""Fixture datasets for the enrich tests: items.jsonl + small PNGs drawn with numpy/PIL."""

import json
import os

import numpy as np
import pytest
from PIL import Image

S = 72
COLOURS = {"red": (220, 20, 30), "blue": (20, 70, 240), "green": (20, 175, 50),
           "yellow": (250, 225, 30)}


def draw(shape: str, colour: str, pattern: str = "plain", size: int = S) -> np.ndarray:
  """A white canvas with one coloured object; pattern stripes/dots use white."""
  im = np.full((size, size, 3), 255, np.uint8)
  yy, xx = np.mgrid[:size, :size]
  c = size // 2
  if shape == "square":
    mask = (abs(yy - c) < size * 0.36) & (abs(xx - c) < size * 0.36)
  elif shape == "round":
    mask = (yy - c) ** 2 + (xx - c) ** 2 < (size * 0.36) ** 2
  elif shape == "triangular":
    mask = (yy > size * 0.15) & (yy < size * 0.85) & (abs(xx - c) < (yy - size * 0.15) * 0.6)
  elif shape == "wide":
    mask = (abs(yy - c) < size * 0.18) & (abs(xx - c) < size * 0.45)
  else:
    raise ValueError(shape)
  im[mask] = COLOURS[colour]
  if pattern == "vertical stripes":
    im[mask & ((xx // 6) % 2 == 1)] = 255
  elif pattern == "horizontal stripes":
    im[mask & ((yy // 6) % 2 == 1)] = 255
  elif pattern == "polka dots":
    im[mask & (((yy % 12) - 6) ** 2 + ((xx % 12) - 6) ** 2 < 9)] = 255
  elif pattern == "checks":
    im[mask & (((yy // 8) + (xx // 8)) % 2 == 0)] = 255
  return im


SPECS = [("square", "red", "plain"), ("round", "blue", "plain"),
         ("square", "green", "vertical stripes"), ("round", "yellow", "polka dots"),
         ("triangular", "red", "plain"), ("square", "blue", "horizontal stripes"),
         ("wide", "green", "plain"), ("square", "red", "checks")]
TITLES = ["Ceramic coffee mug", "Wireless gaming controller for Xbox", "Yoga mat non slip",
          "Stainless steel water bottle", "Kids digital microscope", "Leather wallet",
          "Garden hose nozzle", "Cotton throw pillow"]


def write_dataset(data_dir: str, n: int = 8, extra_no_image: bool = True) -> list[dict]:
  """Writes `n` imaged items (+ one without image, one with a missing file); returns the items."""
  os.makedirs(os.path.join(data_dir, "images"), exist_ok=True)
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
