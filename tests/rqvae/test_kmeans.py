"""Jitted k-means(++) recovers separated clusters and is deterministic by key."""

import jax
import jax.numpy as jnp
import numpy as np

from gr_jax.rqvae import kmeans


def _blobs(n=600, k=6, d=8, seed=0, spread=0.05):
  rng = np.random.default_rng(seed)
  centres = rng.standard_normal((k, d)) * 3
  labels = rng.integers(0, k, n)
  return (centres[labels] + spread * rng.standard_normal((n, d))).astype(np.float32), labels


def _purity(pred, labels):
  return sum(np.bincount(labels[pred == c]).max() for c in np.unique(pred)) / len(labels)


def test_recovers_clusters_and_is_deterministic():
  x, labels = _blobs()
  a = kmeans.kmeans(jax.random.PRNGKey(1), jnp.asarray(x), 6, 10)
  b = kmeans.kmeans(jax.random.PRNGKey(1), jnp.asarray(x), 6, 10)
  assert _purity(np.asarray(a.assignments_N), labels) == 1.0
  np.testing.assert_array_equal(np.asarray(a.centroids_KxD), np.asarray(b.centroids_KxD))
  # Inertia equals the recomputed sum of squared distances.
  c = np.asarray(a.centroids_KxD)
  want = ((x - c[np.asarray(a.assignments_N)]) ** 2).sum()
  np.testing.assert_allclose(float(a.inertia), want, rtol=1e-4)


def test_more_centres_than_distinct_points():
  x = np.repeat(np.eye(3, dtype=np.float32), 4, axis=0)  # 3 distinct points, 12 rows.
  res = kmeans.kmeans(jax.random.PRNGKey(0), jnp.asarray(x), 5, 3)
  assert np.isfinite(np.asarray(res.centroids_KxD)).all()
  assert float(res.inertia) < 1e-6


def test_pseudo_labels_caps_k_at_n():
  x, _ = _blobs(n=10, k=2)
  labels = kmeans.pseudo_labels(x, 512, seed=0, iters=3)
  assert labels.shape == (10,) and labels.max() < 10
