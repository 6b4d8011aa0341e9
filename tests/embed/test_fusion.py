"""Tests for the weighted-concatenation fused embedding."""

import numpy as np
import pytest

from gr_jax.embed import fusion


def _rand(n, d, seed):
  return fusion.normalize(np.random.default_rng(seed).normal(size=(n, d)))


def test_cosine_is_weighted_sum_of_block_cosines():
  t, v = _rand(20, 8, 0), _rand(20, 12, 1)
  ok = np.ones(20, bool)
  for w in (0.0, 0.3, 0.5, 1.0):
    f = fusion.fuse(t, v, ok, fusion.FusionConfig(text_weight=w, center=False))
    assert f.shape == (20, 20) and f.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(f @ f.T, w * (t @ t.T) + (1 - w) * (v @ v.T), atol=1e-5)


def test_centering_removes_shared_component():
  shared = np.ones((1, 16))
  v = fusion.normalize(10 * shared + np.random.default_rng(2).normal(size=(30, 16)))
  assert (v @ v.T).mean() > 0.9
  c = fusion.center_normalize(v, np.ones(30, bool))
  assert abs((c @ c.T)[np.triu_indices(30, 1)].mean()) < 0.1
  np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1, atol=1e-5)


def test_missing_images_use_text_only():
  t, v = _rand(6, 4, 3), _rand(6, 5, 4)
  ok = np.array([1, 1, 0, 1, 0, 1], bool)
  f = fusion.fuse(t, v, ok, fusion.FusionConfig(center=False))
  np.testing.assert_allclose(f[~ok, 4:], 0)
  np.testing.assert_allclose(f[~ok, :4], t[~ok], atol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1, atol=1e-5)


def test_no_images_at_all_and_degenerate_inputs():
  t = _rand(5, 4, 5)
  np.testing.assert_allclose(fusion.fuse(t, None, None), fusion.center_normalize(t, np.ones(5, bool)),
                             atol=1e-6)
  one = fusion.fuse(t[:1], t[:1], np.ones(1, bool))  # Centring one row would zero it.
  np.testing.assert_allclose(np.linalg.norm(one, axis=1), 1, atol=1e-5)
  same = fusion.fuse(np.repeat(t[:1], 3, 0), None, None)  # Identical texts.
  np.testing.assert_allclose(np.linalg.norm(same, axis=1), 1, atol=1e-5)


def test_pca_projection_is_deterministic_and_unit_norm():
  t, v = _rand(40, 16, 6), _rand(40, 24, 7)
  cfg = fusion.FusionConfig(dim=8)
  a = fusion.fuse(t, v, np.ones(40, bool), cfg)
  b = fusion.fuse(t, v, np.ones(40, bool), cfg)
  assert a.shape == (40, 8)
  np.testing.assert_array_equal(a, b)
  np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)


def test_invalid_config():
  with pytest.raises(ValueError, match="text_weight"):
    fusion.fuse(_rand(2, 2, 0), None, None, fusion.FusionConfig(text_weight=1.5))
