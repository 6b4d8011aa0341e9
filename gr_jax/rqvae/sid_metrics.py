"""SID quality numbers: per-level codebook usage and perplexity, collision rates."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def codebook_usage(codes_NxL: np.ndarray, codebook_sizes: Sequence[int]) -> list[float]:
  """Fraction of each level's codes used by at least one item."""
  return [float(np.unique(codes_NxL[:, l]).size / k) for l, k in enumerate(codebook_sizes)]


def perplexity(codes_NxL: np.ndarray, codebook_sizes: Sequence[int]) -> list[float]:
  """exp(entropy) of each level's code distribution (= codebook size when uniform)."""
  out = []
  for l, k in enumerate(codebook_sizes):
    p = np.bincount(codes_NxL[:, l], minlength=k).astype(np.float64)
    p = p[p > 0] / p.sum()
    out.append(float(np.exp(-np.sum(p * np.log(p)))))
  return out


def level_histograms(codes_NxL: np.ndarray, codebook_sizes: Sequence[int]) -> list[np.ndarray]:
  """Items per code, per level."""
  return [np.bincount(codes_NxL[:, l], minlength=k) for l, k in enumerate(codebook_sizes)]
