"""Fixtures for embed tests: a tiny factor-controlled catalog with PIL images."""

import itertools
import json
import os

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gr_jax_tasks import testing

# Text-visible factor: category words appear in titles and descriptions.
CATEGORIES = {
    "kitchen": ["mug", "skillet", "kettle", "spatula", "mixing bowl", "cutting board"],
    "garden": ["garden hose", "trowel", "planter", "sprinkler", "leaf rake", "pruning shears"],
    "audio": ["headphones", "speaker", "microphone", "amplifier", "earbuds", "turntable"],
    "office": ["stapler", "notebook", "desk lamp", "binder", "pen set", "paper tray"],
}
CATEGORY_SENTENCES = {
    "kitchen": "Made for cooking, baking and serving meals at home.",
    "garden": "Built for planting, watering and yard work outdoors.",
    "audio": "Delivers clear sound for music, podcasts and calls.",
    "office": "Keeps your desk, documents and workday organised.",
}
# Image-only factors: never mentioned in the text.
COLORS = {"red": (215, 35, 35), "blue": (35, 70, 215), "green": (30, 160, 60),
          "yellow": (240, 205, 30)}
SHAPES = ("circle", "square", "triangle", "stripes")
ADJECTIVES = ["classic", "compact", "premium", "everyday", "deluxe", "essential", "modern", "sturdy"]
FILLER = ["Simple to use.", "Great as a gift.", "Backed by a one-year warranty.",
          "Lightweight design.", "Ships in recyclable packaging.", "Easy to clean."]


def draw_item(color: str, shape: str, seed: int, size: int = 64) -> Image.Image:
  """A noisy light background with one coloured shape (position and size jittered)."""
  rng = np.random.default_rng(seed)
  bg = rng.integers(225, 256, size=(size, size, 3), dtype=np.uint8)
  im = Image.fromarray(bg)
  d = ImageDraw.Draw(im)
  rgb = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in COLORS[color])
  c = size / 2 + rng.uniform(-5, 5, size=2)
  r = size * rng.uniform(0.28, 0.36)
  if shape == "circle":
    d.ellipse((c[0] - r, c[1] - r, c[0] + r, c[1] + r), fill=rgb)
  elif shape == "square":
    d.rectangle((c[0] - r, c[1] - r, c[0] + r, c[1] + r), fill=rgb)
  elif shape == "triangle":
    d.polygon([(c[0], c[1] - r), (c[0] - r, c[1] + r), (c[0] + r, c[1] + r)], fill=rgb)
  else:
    for k in range(0, size, 12):
      d.rectangle((0, k, size, k + 5), fill=rgb)
  return im


def make_catalog(root: str, seed: int = 0, size: int = 64) -> dict:
  """Writes items.jsonl + images/ for all 4x4x4 factor combinations; returns the factors."""
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(root, "images"), exist_ok=True)
  factors = {}
  with open(os.path.join(root, "items.jsonl"), "w", encoding="utf-8") as f:
    for n, (cat, color, shape) in enumerate(itertools.product(CATEGORIES, COLORS, SHAPES)):
      item_id = f"item{n:03d}"
      noun = CATEGORIES[cat][rng.integers(len(CATEGORIES[cat]))]
      title = f"{ADJECTIVES[rng.integers(len(ADJECTIVES))].title()} {noun}"
      desc = " ".join([CATEGORY_SENTENCES[cat]] + list(rng.choice(FILLER, 2, replace=False)))
      rel = f"images/{item_id}.png"
      draw_item(color, shape, seed * 1000 + n, size).save(os.path.join(root, rel))
      f.write(json.dumps({"item_id": item_id, "title": title, "description": desc,
                          "brand": "Acme", "categories": [cat], "image": rel}) + "\n")
      factors[item_id] = {"category": cat, "color": color, "shape": shape}
  testing.mark_prepared(root)
  return factors


@pytest.fixture
def catalog(tmp_path):
  """(data_dir, factors) of a fresh 64-item catalog."""
  root = str(tmp_path / "cat")
  return root, make_catalog(root)


@pytest.fixture(scope="session")
def catalog_factory():
  """make_catalog itself, for tests that need several catalogs."""
  return make_catalog
