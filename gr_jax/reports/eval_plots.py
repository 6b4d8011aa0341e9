"""Evaluation plots: metric vs K, and a jitted exact t-SNE (PCA fallback) of item embeddings."""

from __future__ import annotations

import functools
from typing import Mapping, Optional, Sequence

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from gr_jax import io_utils


def pca(x_NxD: np.ndarray, dims: int = 2) -> np.ndarray:
  """Projection on the top principal components."""
  x = np.asarray(x_NxD, np.float64)
  x = x - x.mean(0)
  _, _, vt = np.linalg.svd(x, full_matrices=False)
  return (x @ vt[:dims].T).astype(np.float32)


def _conditional_p(d2_NxN, perplexity: float, steps: int = 64):
  """Row-wise Gaussian affinities whose entropy matches log(perplexity) (bisection on beta)."""
  n = d2_NxN.shape[0]
  target = jnp.log(perplexity)
  off = 1.0 - jnp.eye(n)

  def probs(beta_N):
    logits = -d2_NxN * beta_N[:, None]
    logits = jnp.where(off > 0, logits, -jnp.inf)
    p = jax.nn.softmax(logits, axis=1)
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.maximum(p, 1e-30)), 0.0), 1)
    return p, entropy

  def body(_, state):
    lo, hi = state
    beta = jnp.where(jnp.isinf(hi), lo * 2.0 + 1e-3, (lo + hi) / 2.0)
    _, h = probs(beta)
    too_flat = h > target  # Entropy too high -> sharpen (increase beta).
    return jnp.where(too_flat, beta, lo), jnp.where(too_flat, hi, beta)

  lo, hi = lax.fori_loop(0, steps, body, (jnp.zeros([n]), jnp.full([n], jnp.inf)))
  return probs(jnp.where(jnp.isinf(hi), lo, (lo + hi) / 2.0))[0]


@functools.partial(jax.jit, static_argnames=("iters", "exaggeration_iters"))
def _tsne(x_NxD, y0_Nx2, perplexity, iters: int, exaggeration_iters: int):
  n = x_NxD.shape[0]
  sq = jnp.sum(x_NxD ** 2, 1)
  d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * x_NxD @ x_NxD.T, 0.0)
  d2 = d2 / jnp.maximum(jnp.mean(d2), 1e-12)
  p_cond = _conditional_p(d2, perplexity)
  p = jnp.maximum((p_cond + p_cond.T) / (2.0 * n), 1e-12)
  lr = jnp.maximum(n / 12.0, 50.0)

  def step(i, state):
    y, velocity, gains = state
    exaggeration = jnp.where(i < exaggeration_iters, 12.0, 1.0)
    momentum = jnp.where(i < exaggeration_iters, 0.5, 0.8)
    diff = y[:, None, :] - y[None, :, :]
    num = 1.0 / (1.0 + jnp.sum(diff ** 2, -1)) * (1.0 - jnp.eye(n))
    q = jnp.maximum(num / jnp.sum(num), 1e-12)
    grad = 4.0 * jnp.sum(((exaggeration * p - q) * num)[:, :, None] * diff, 1)
    gains = jnp.where(jnp.sign(grad) != jnp.sign(velocity), gains + 0.2, gains * 0.8)
    gains = jnp.maximum(gains, 0.01)
    velocity = momentum * velocity - lr * gains * grad
    y = y + velocity
    return y - jnp.mean(y, 0), velocity, gains

  y, _, _ = lax.fori_loop(0, iters, step, (y0_Nx2, jnp.zeros_like(y0_Nx2), jnp.ones_like(y0_Nx2)))
  return y


def tsne(x_NxD: np.ndarray, perplexity: float = 30.0, iters: int = 500, seed: int = 0,
         pca_dims: int = 50) -> np.ndarray:
  """Exact O(N^2) t-SNE (van der Maaten 2008) to 2-D, jitted; use for N up to a few thousand."""
  x = np.asarray(x_NxD, np.float32)
  n = x.shape[0]
  if n < 5:
    return pca(x, 2)
  if x.shape[1] > pca_dims:
    x = pca(x, pca_dims)
  perplexity = float(min(perplexity, (n - 1) / 3.0))
  y0 = np.random.default_rng(seed).normal(scale=1e-4, size=[n, 2]).astype(np.float32)
  return np.asarray(_tsne(jnp.asarray(x), jnp.asarray(y0), perplexity, iters, min(250, iters // 2)))


def _savefig(fig, path: str) -> None:
  with io_utils.atomic_open(path, "wb") as f:
    fig.savefig(f, format="png", dpi=110, bbox_inches="tight")


def plot_metric_vs_k(curves: Mapping[str, Mapping[str, Sequence[float]]], path: str,
                     title: str = "") -> None:
  """HR@K and NDCG@K against K, one line per system."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for ax, metric in zip(axes, ("HR", "NDCG")):
    for name, curve in curves.items():
      ks = np.arange(1, len(curve[metric]) + 1)
      ax.plot(ks, curve[metric], marker="o", ms=3, label=name)
    ax.set_xlabel("K")
    ax.set_ylabel(f"{metric}@K")
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=8)
  fig.suptitle(title)
  _savefig(fig, path)
  plt.close(fig)


def plot_embedding(points_Nx2: np.ndarray, first_codes_N: np.ndarray, path: str, title: str) -> None:
  """2-D item map coloured by the first SID level's code."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 6))
  sc = ax.scatter(points_Nx2[:, 0], points_Nx2[:, 1], c=first_codes_N, cmap="nipy_spectral", s=6,
                  alpha=0.8)
  fig.colorbar(sc, ax=ax, label="first SID level code")
  ax.set_title(title)
  ax.set_xticks([])
  ax.set_yticks([])
  _savefig(fig, path)
  plt.close(fig)


def neighbour_agreement(points_Nx2: np.ndarray, labels_N: np.ndarray, k: int = 5) -> float:
  """Fraction of each point's k nearest 2-D neighbours that share its label (plot sanity)."""
  d = np.sum((points_Nx2[:, None] - points_Nx2[None]) ** 2, -1)
  np.fill_diagonal(d, np.inf)
  nn = np.argsort(d, 1)[:, :k]
  return float(np.mean(labels_N[nn] == labels_N[:, None]))


def embedding_plot(embeddings_NxD: np.ndarray, first_codes_N: np.ndarray, path: str, title: str,
                   max_points: int = 2000, method: str = "tsne", seed: int = 0,
                   iters: int = 500) -> dict:
  """Subsamples, projects (t-SNE or PCA) and plots; returns {"points", "method", "knn_agreement"}."""
  n = len(embeddings_NxD)
  idx = np.arange(n)
  if n > max_points:
    idx = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
  x, codes = np.asarray(embeddings_NxD)[idx], np.asarray(first_codes_N)[idx]
  points = tsne(x, seed=seed, iters=iters) if method == "tsne" else pca(x, 2)
  plot_embedding(points, codes, path, f"{title} ({method}, {len(idx)} items)")
  return {"points": int(len(idx)), "method": method,
          "knn_agreement": neighbour_agreement(points, codes) if len(idx) > 5 else None}
