"""Tests for ImageNet class names and top-k decoding."""

import numpy as np

from gr_jax.encoders import imagenet_labels


def test_names():
  names = imagenet_labels.class_names()
  assert len(names) == 1000
  if imagenet_labels.have_names():
    assert names[0] == "tench" and names[918] == "crossword"


def test_top_k_order_and_probs():
  logits = np.full((2, 1000), -5.0)
  logits[0, 7], logits[0, 3] = 4.0, 3.0
  logits[1, 999] = 9.0
  top = imagenet_labels.top_k(logits, 2)
  assert [i for i, _, _ in top[0]] == [7, 3]
  assert top[1][0][0] == 999 and top[1][0][2] > 0.9
  assert top[0][0][1] == imagenet_labels.class_names()[7]
  assert top[0][0][2] > top[0][1][2] > 0
