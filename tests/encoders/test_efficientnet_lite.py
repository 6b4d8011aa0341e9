"""Flax EfficientNet-Lite0 vs the weights' own torch implementation, and its building blocks."""

import importlib.util
import os

import jax
import numpy as np
import pytest

from gr_jax.encoders import efficientnet_lite as E
from gr_jax.encoders import imagenet_labels

HERE = os.path.join(os.path.dirname(__file__), "testdata")


def _reference_images():
  spec = importlib.util.spec_from_file_location("make_reference",
                                                os.path.join(HERE, "make_reference.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.reference_images()


def _cos(a, b):
  return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.fixture(scope="module")
def encoder224():
  return E.EfficientNetLiteEncoder(image_size=224, batch_size=2)


def test_matches_torch_reference(encoder224):
  feats, logits = encoder224.encode_arrays(_reference_images())
  ref_f = np.load(os.path.join(HERE, "efficientnet_lite0_features.npy"))
  ref_l = np.load(os.path.join(HERE, "efficientnet_lite0_logits.npy"))
  assert feats.shape == (2, 1280) and logits.shape == (2, 1000)
  assert _cos(feats, ref_f).min() > 0.999
  assert _cos(logits, ref_l).min() > 0.999
  np.testing.assert_allclose(logits, ref_l, atol=2e-3)
  np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
  assert (logits.argmax(1) == ref_l.argmax(1)).all()


def test_imagenet_classes_are_sane(encoder224):
  _, logits = encoder224.encode_arrays(_reference_images())
  top = imagenet_labels.top_k(logits, 5)
  photo, board = [[i for i, _, _ in row] for row in top]
  assert 652 in photo  # Grace Hopper photo: 'military uniform' among the top 5.
  assert board[0] == 918  # Checkerboard: 'crossword'.
  if imagenet_labels.have_names():
    assert top[1][0][1] == "crossword"
  assert abs(sum(p for _, _, p in top[0]) - 1) < 1  # Probabilities, not logits.


def test_depthwise_matches_grouped_conv():
  rng = np.random.default_rng(0)
  for h, k, s in [(9, 3, 2), (8, 5, 1), (7, 5, 2), (4, 3, 1)]:
    x = rng.normal(size=(2, h, h + 1, 6)).astype(np.float32)
    kern = rng.normal(size=(k, k, 1, 6)).astype(np.float32)
    bias = rng.normal(size=(6,)).astype(np.float32)
    ours = E.DepthwiseConv(k, s).apply({"params": {"kernel": kern, "bias": bias}}, x)
    ref = jax.lax.conv_general_dilated(x, kern, (s, s), "SAME", feature_group_count=6,
                                       dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_block_list_is_lite0():
  blocks = E.block_list()
  assert len(blocks) == 16
  assert [b.stride for b in blocks].count(2) == 4
  assert blocks[0].expand == 1 and blocks[-1].out_ch == 320


def test_small_inputs_and_padding_rows():
  enc = E.get_encoder(64, 4)
  imgs = np.random.default_rng(1).integers(0, 256, size=(5, 64, 64, 3), dtype=np.uint8)
  f_all, _ = enc.encode_arrays(imgs)
  f_one, _ = enc.encode_arrays(imgs[4:5])
  np.testing.assert_allclose(f_all[4], f_one[0], atol=1e-5)
  assert np.isfinite(f_all).all()


def test_top_classes_for_captioner(tmp_path):
  from PIL import Image
  board = _reference_images()[1]
  Image.fromarray(board).save(tmp_path / "board.png")
  (tmp_path / "bad.png").write_bytes(b"junk")
  enc = E.get_encoder(128, 32)
  tops = enc.top_classes([str(tmp_path / "board.png"), None, str(tmp_path / "bad.png")], k=3)
  assert tops[1] is None and tops[2] is None
  assert len(tops[0]) == 3 and 918 in [i for i, _, _ in tops[0]]  # 'crossword'
