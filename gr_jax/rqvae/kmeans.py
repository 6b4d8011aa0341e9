"""Jitted k-means (Lloyd) with k-means++ seeding: codebook init and MACRec pseudo-labels."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gr_jax.rqvae import nearest


class KMeansResult(NamedTuple):
  centroids_KxD: jax.Array
  assignments_N: jax.Array  # int32
  inertia: jax.Array  # sum of squared distances to the assigned centroid


@functools.partial(jax.jit, static_argnames=("k",))
def kmeans_plus_plus(key: jax.Array, x_NxD: jax.Array, k: int) -> jax.Array:
  """k-means++ seeding: each next centre is drawn with probability ~ D(x)^2.

  When every point already coincides with a centre (k > number of distinct
  points), further centres are drawn uniformly, so duplicates are allowed.
  """
  x_NxD = x_NxD.astype(jnp.float32)
  n = x_NxD.shape[0]
  key, first_key = jax.random.split(key)
  first = jax.random.randint(first_key, (), 0, n)
  centroids_KxD = jnp.zeros((k, x_NxD.shape[1]), jnp.float32).at[0].set(x_NxD[first])
  d2_N = jnp.sum((x_NxD - x_NxD[first]) ** 2, axis=-1)

  def body(i, carry):
    centroids_KxD, d2_N = carry
    # Inverse-CDF draw: P(idx) = d2 / sum(d2), uniform when every d2 is 0.
    cdf_N = jnp.cumsum(d2_N)
    total = cdf_N[-1]
    u = jax.random.uniform(jax.random.fold_in(key, i), (), jnp.float32)
    idx_weighted = jnp.searchsorted(cdf_N, u * total, side="right")
    idx_uniform = jnp.floor(u * n).astype(jnp.int32)
    idx = jnp.clip(jnp.where(total > 0, idx_weighted, idx_uniform), 0, n - 1)
    centroids_KxD = centroids_KxD.at[i].set(x_NxD[idx])
    d2_N = jnp.minimum(d2_N, jnp.sum((x_NxD - x_NxD[idx]) ** 2, axis=-1))
    return centroids_KxD, d2_N

  centroids_KxD, _ = lax.fori_loop(1, k, body, (centroids_KxD, d2_N))
  return centroids_KxD


def _assign(x_NxD, centroids_KxD):
  return nearest.nearest_codes(x_NxD, centroids_KxD, return_distances=True)


def _lloyd_step(x_NxD, centroids_KxD):
  """One Lloyd iteration; empty clusters keep their centroid."""
  k = centroids_KxD.shape[0]
  codes_N = nearest.nearest_codes(x_NxD, centroids_KxD)
  sums_KxD = jax.ops.segment_sum(x_NxD, codes_N, num_segments=k)
  counts_K = jax.ops.segment_sum(jnp.ones_like(codes_N, jnp.float32), codes_N, num_segments=k)
  safe_K = jnp.maximum(counts_K, 1.0)
  return jnp.where(counts_K[:, None] > 0, sums_KxD / safe_K[:, None], centroids_KxD)


@functools.partial(jax.jit, static_argnames=("k", "iters"))
def kmeans(key: jax.Array, x_NxD: jax.Array, k: int, iters: int = 25) -> KMeansResult:
  """k-means++ seeding followed by `iters` Lloyd iterations (all jitted)."""
  x_NxD = x_NxD.astype(jnp.float32)
  centroids_KxD = kmeans_plus_plus(key, x_NxD, k)
  centroids_KxD = lax.fori_loop(0, iters, lambda _, c: _lloyd_step(x_NxD, c), centroids_KxD)
  codes_N, d2_N = _assign(x_NxD, centroids_KxD)
  return KMeansResult(centroids_KxD, codes_N, jnp.sum(d2_N))


def pseudo_labels(x_NxD: np.ndarray, k: int, seed: int = 0, iters: int = 25) -> np.ndarray:
  """Cluster ids (int32 [N]) from k-means with min(k, N) clusters (MACRec pseudo-labels)."""
  k = int(min(k, x_NxD.shape[0]))
  result = kmeans(jax.random.PRNGKey(seed), jnp.asarray(x_NxD, jnp.float32), k, iters)
  return np.asarray(result.assignments_N)
