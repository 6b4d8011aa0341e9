"""Per-user metric values and 95 % confidence intervals over users and over seeds."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as sp_stats

from gr_jax import evaluate

METRICS = ("HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10")


def per_user(ranks_U: Sequence[int], metric: str) -> np.ndarray:
  """[U] value of `metric` ('HR@K' / 'NDCG@K') for each user from 0-based ranks (-1 = miss)."""
  return evaluate.per_user_metric(ranks_U, metric)


def ci_users(values_U: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
  """(mean, low, high): normal interval of a mean over users (n is thousands)."""
  v = np.asarray(values_U, np.float64)
  if len(v) == 0:
    return float("nan"), float("nan"), float("nan")
  mean = float(v.mean())
  half = float(sp_stats.norm.ppf(0.5 + level / 2) * v.std(ddof=1) / math.sqrt(len(v))) \
      if len(v) > 1 else float("nan")
  return mean, mean - half, mean + half


def ci_seeds(means: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
  """(mean, low, high): Student-t interval over seeds; NaN bounds with fewer than 2 seeds."""
  m = np.asarray(means, np.float64)
  mean = float(m.mean()) if len(m) else float("nan")
  if len(m) < 2:
    return mean, float("nan"), float("nan")
  half = float(sp_stats.t.ppf(0.5 + level / 2, len(m) - 1) * m.std(ddof=1) / math.sqrt(len(m)))
  return mean, mean - half, mean + half


def summarize(ranks_by_seed: Sequence[Sequence[int]], published: dict) -> dict:
  """{metric: {ours, ci_users, ci_seeds, per_seed, published, diff}} over seeds' rank lists.

  The interval over users is that of the per-user value averaged over seeds (users are the
  same test users in every seed); the interval over seeds uses each seed's mean.
  """
  out = {}
  for metric in METRICS:
    per_seed = [per_user(r, metric) for r in ranks_by_seed]
    pooled = np.mean(np.stack(per_seed), 0) if per_seed else np.zeros([0])
    mean, lo, hi = ci_users(pooled)
    _, slo, shi = ci_seeds([float(v.mean()) for v in per_seed])
    pub = published.get(metric)
    out[metric] = {"ours": mean, "ci_users": _json([lo, hi]), "ci_seeds": _json([slo, shi]),
                   "per_seed": [float(v.mean()) for v in per_seed],
                   "published": pub, "diff": None if pub is None else mean - pub}
  return out


def _json(values):
  """NaN (an interval that needs more seeds) -> None, so reports are valid JSON."""
  return [None if v is None or math.isnan(v) else v for v in values]
