"""Tests for item image reference resolution."""

import os

from PIL import Image

from gr_jax.data import images


def test_resolve_reasons(tmp_path):
  (tmp_path / "images").mkdir()
  Image.new("RGB", (4, 4)).save(tmp_path / "images" / "a.png")
  d = str(tmp_path)
  assert images.resolve(d, None).status == images.NO_IMAGE
  assert images.resolve(d, "  ").status == images.NO_IMAGE
  for url in ("https://x/y.jpg", "http://x", "data:image/png;base64,AA==", "s3://b/k.jpg"):
    assert images.resolve(d, url) == images.ImageRef(images.REMOTE, url=url)
  assert images.resolve(d, "images/b.png") == images.ImageRef(images.MISSING)
  assert images.resolve(d, "images/a.png") == images.ImageRef(images.OK,
                                                              path=os.path.join(d, "images/a.png"))
  abs_path = str(tmp_path / "images" / "a.png")
  assert images.resolve("/elsewhere", abs_path).path == abs_path
  assert images.resolve(d, "images/a.png").hash_input() == images.OK
