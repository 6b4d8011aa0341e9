"""Tests for gr_jax.enrich.pixels: colour names, pattern, shape and tone from pixels."""

import numpy as np
import pytest
from PIL import Image

from gr_jax.data import synthetic
from gr_jax.enrich import images
from gr_jax.enrich import pixels


@pytest.mark.parametrize("rgb,name", [
    ((255, 0, 0), "red"), ((0, 0, 255), "blue"), ((255, 255, 0), "yellow"), ((0, 0, 0), "black"),
    ((255, 255, 255), "white"), ((128, 128, 128), "gray"), ((255, 165, 0), "orange"),
    ((128, 0, 128), "purple"), ((255, 192, 203), "pink"), ((139, 69, 19), "brown"),
    ((0, 0, 128), "navy"), ((0, 128, 128), "teal"), ((34, 139, 34), "green"),
    ((0, 255, 255), "cyan"), ((128, 0, 0), "dark red"), ((65, 105, 225), "blue"),
])
def test_colour_names(rgb, name):
  assert pixels.colour_name(rgb) == name


def test_lab_of_white_and_black():
  lab = pixels.srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0]], np.float32))
  np.testing.assert_allclose(lab, [[100, 0, 0], [0, 0, 0]], atol=0.5)


@pytest.mark.parametrize("shape,colour,pattern,want_shape", [
    ("square", "red", "plain", "square"), ("round", "blue", "plain", "round"),
    ("triangular", "green", "plain", "triangular"), ("wide", "yellow", "plain", "rectangular"),
    ("diamond", "red", "plain", "diamond"), ("hexagonal", "green", "plain", "hexagonal"),
    ("star", "blue", "plain", "star-shaped"),
    ("square", "green", "vertical stripes", "square"),
    ("square", "blue", "horizontal stripes", "square"),
    ("round", "yellow", "polka dots", "round"), ("square", "red", "checks", "square"),
])
@pytest.mark.parametrize("side,rot", [(64, 0.0), (96, 0.12), (128, -0.1)])
def test_analyse_drawn_images(tmp_path, draw_image, shape, colour, pattern, want_shape, side,
                              rot):
  # Drawn at 160 px and read back at `side`, so resampling blends edges as in real images.
  path = str(tmp_path / "x.png")
  Image.fromarray(draw_image(shape, colour, pattern, size=160, rot=rot)).save(path)
  stats = pixels.analyse(images.load_rgb(path, side))
  assert stats.colours[0] == colour or (pattern == "checks" and colour in stats.colours)
  assert stats.pattern == pattern
  assert stats.shape == want_shape
  assert stats.background == "white"
  assert stats.orientation == ("wide" if shape == "wide" else "compact")


def test_grey_backdrop_and_small_object_on_dark_background(draw_image):
  grey = pixels.analyse(draw_image("round", "red", "plain", size=96, background=(200, 200, 200)))
  assert grey.background == "light gray" and grey.colours == ["red"] and grey.shape == "round"
  im = np.full((64, 64, 3), 20, np.uint8)
  im[28:36, 28:36] = (250, 225, 30)
  stats = pixels.analyse(im)
  assert stats.background == "black" and stats.size == "small" and stats.colours == ["yellow"]


def test_full_frame_photo_and_blank():
  rng = np.random.default_rng(0)
  noisy = pixels.analyse(rng.integers(0, 256, (64, 64, 3)).astype(np.uint8))
  assert noisy.shape == "full-frame" and noisy.background is None
  assert noisy.pattern == "textured"
  blank = pixels.analyse(np.full((64, 64, 3), 250, np.uint8))
  assert blank.pattern == "plain" and blank.colours == ["white"] and blank.shape == "full-frame"


def test_recovers_image_only_factors_of_the_synthetic_catalog(tmp_path):
  """Colour and pattern exist only in synthetic images; captions must carry them."""
  cat = synthetic.generate(n_items=120, n_users=0, seed=1, image_dir=str(tmp_path / "images"),
                           progress=False)
  values, factors = cat.factors["values"], cat.factors["items"]
  want_pattern = {"solid": "plain", "stripes": "horizontal stripes",
                  "diagonal": "diagonal stripes", "dots": "polka dots", "grid": "grid",
                  "waves": "wavy stripes"}
  colour_ok = pattern_ok = 0
  for item in cat.items:
    stats = pixels.analyse(images.load_rgb(str(tmp_path / item.image), 96))
    colour_ok += stats.colours[0] == values["colour"][factors[item.item_id]["colour"]]
    pattern_ok += stats.pattern == want_pattern.get(
        values["pattern"][factors[item.item_id]["pattern"]])
  assert colour_ok / len(cat.items) >= 0.85 and pattern_ok / len(cat.items) >= 0.8
