"""Exactness of the chunked nearest-codeword search against numpy brute force."""

import jax.numpy as jnp
import numpy as np
import pytest

from gr_jax.rqvae import nearest


def _brute(x, c):
  d = ((x[:, None, :].astype(np.float64) - c[None].astype(np.float64)) ** 2).sum(-1)
  return d.argmin(1), d.min(1)


@pytest.mark.parametrize("n,k,block_rows", [(1000, 37, None), (257, 300, 16), (5, 4096, 2),
                                            (64, 8, 64), (1, 3, None)])
def test_matches_brute_force(n, k, block_rows):
  rng = np.random.default_rng(n + k)
  x = rng.standard_normal((n, 12)).astype(np.float32)
  c = rng.standard_normal((k, 12)).astype(np.float32)
  codes, dist = nearest.nearest_codes(jnp.asarray(x), jnp.asarray(c), block_rows=block_rows,
                                      return_distances=True)
  want_codes, want_dist = _brute(x, c)
  np.testing.assert_array_equal(np.asarray(codes), want_codes)
  np.testing.assert_allclose(np.asarray(dist), want_dist, rtol=1e-4, atol=1e-4)


def test_ties_go_to_the_lowest_index_and_exact_hits():
  c = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
  x = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], np.float32)
  codes = np.asarray(nearest.nearest_codes(jnp.asarray(x), jnp.asarray(c), block_rows=2))
  np.testing.assert_array_equal(codes, [0, 1, 0])


def test_block_rows_bounds_memory():
  # One [rows, K] fp32 score block stays near 1 MiB whatever K (4096 codes -> 64 rows).
  assert nearest.block_rows_for(4096) == 64
  assert nearest.block_rows_for(1) == nearest.MAX_BLOCK_ROWS
  assert nearest.block_rows_for(10 ** 7) == nearest.MIN_BLOCK_ROWS


def test_residual_quantize_equals_levelwise_brute_force():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((300, 8)).astype(np.float32)
  books = [rng.standard_normal((k, 8)).astype(np.float32) for k in (16, 9, 5)]
  codes, residual = nearest.residual_quantize(jnp.asarray(x), [jnp.asarray(b) for b in books])
  r = x.copy()
  for l, b in enumerate(books):
    want, _ = _brute(r, b)
    np.testing.assert_array_equal(np.asarray(codes)[:, l], want)
    r = r - b[want]
  np.testing.assert_allclose(np.asarray(residual), r, atol=1e-5)


@pytest.mark.slow
def test_million_items_by_4096_codes_in_bounded_memory():
  """1M x 64 items against 4096 codes: extra host memory stays far below the 16 GiB score matrix."""
  import resource  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  n, k, d = 1_000_000, 4096, 64
  key_x, key_c = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(key_x, (n, d), jnp.float32)
  c = jax.random.normal(key_c, (k, d), jnp.float32)
  before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux.
  codes = np.asarray(nearest.nearest_codes(x, c))
  grown_gib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2 ** 20
  assert codes.shape == (n,) and codes.min() >= 0 and codes.max() < k
  assert grown_gib < 1.0, grown_gib
  sample = np.random.default_rng(0).choice(n, 2000, replace=False)
  xs, cs = np.asarray(x)[sample], np.asarray(c)
  np.testing.assert_array_equal(codes[sample], _brute(xs, cs)[0])
