"""Tests for image decoding and failure reporting."""


import numpy as np
from PIL import Image

from gr_jax.encoders import image_batches as images


def test_load_square_modes_and_aspect(tmp_path):
  wide = Image.new("RGB", (200, 100), (255, 0, 0))
  wide.paste((0, 0, 255), (0, 0, 50, 100))  # Left quarter blue: cropped away by centre crop.
  wide.save(tmp_path / "wide.png")
  out = images.load_square(str(tmp_path / "wide.png"), 32)
  assert out.shape == (32, 32, 3) and out.dtype == np.uint8
  assert (out[:, 4:28, 0] > 200).all() and (out[:, 4:28, 2] < 50).all()
  rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))  # Fully transparent -> white.
  rgba.save(tmp_path / "t.png")
  assert (images.load_square(str(tmp_path / "t.png"), 8) == 255).all()
  Image.new("L", (7, 9), 128).save(tmp_path / "g.png")
  assert (images.load_square(str(tmp_path / "g.png"), 8) == 128).all()
  Image.new("P", (5, 5)).save(tmp_path / "p.gif")
  assert images.load_square(str(tmp_path / "p.gif"), 8).shape == (8, 8, 3)


def test_iter_batches_reports_unreadable(tmp_path):
  paths = []
  for k in range(5):
    p = tmp_path / f"{k}.png"
    Image.new("RGB", (6, 6), (k * 40, 0, 0)).save(p)
    paths.append(str(p))
  (tmp_path / "bad.png").write_bytes(b"not an image")
  Image.new("RGB", (64, 64)).save(tmp_path / "trunc.jpg")
  (tmp_path / "trunc.jpg").write_bytes((tmp_path / "trunc.jpg").read_bytes()[:100])
  paths[1] = str(tmp_path / "bad.png")
  paths.insert(3, None)
  paths.append(str(tmp_path / "trunc.jpg"))
  got_rows, failures = [], {}
  for rows, batch, failed in images.iter_batches(paths, 8, batch_size=2, workers=2):
    assert batch.shape == (len(rows), 8, 8, 3)
    got_rows += rows
    failures.update(failed)
  assert got_rows == [0, 2, 4, 5]
  assert sorted(failures) == [1, 6]
  assert all(v.startswith(images.UNREADABLE) for v in failures.values())
