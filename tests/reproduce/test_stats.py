"""Per-user metric values and confidence intervals."""

import numpy as np
import pytest

from gr_jax.reproduce import stats


def test_per_user_values():
  ranks = [0, 4, 9, -1, 12]
  np.testing.assert_allclose(stats.per_user(ranks, "HR@5"), [1, 1, 0, 0, 0])
  np.testing.assert_allclose(stats.per_user(ranks, "NDCG@10"),
                             [1.0, 1 / np.log2(6), 1 / np.log2(11), 0, 0])


def test_intervals():
  v = np.array([1.0] * 30 + [0.0] * 70)
  mean, lo, hi = stats.ci_users(v)
  half = 1.959964 * v.std(ddof=1) / 10
  assert (mean, lo, hi) == pytest.approx((0.3, 0.3 - half, 0.3 + half))
  mean, lo, hi = stats.ci_seeds([0.10, 0.12, 0.11])
  assert mean == pytest.approx(0.11)
  assert hi - mean == pytest.approx(4.302653 * 0.01 / np.sqrt(3), rel=1e-5)
  assert np.isnan(stats.ci_seeds([0.1])[1])


def test_summarize_against_published():
  out = stats.summarize([[0, -1, 3, 20], [1, -1, 3, 0]], {"HR@1": 0.2})
  assert out["HR@1"]["per_seed"] == [0.25, 0.25]
  assert out["HR@1"]["ours"] == pytest.approx(0.25)
  assert out["HR@1"]["diff"] == pytest.approx(0.05)
  assert out["HR@5"]["ours"] == pytest.approx((0.5 + 0.75) / 2)
  assert out["NDCG@10"]["published"] is None
  assert out["HR@10"]["ci_seeds"] != [None, None]
  assert stats.summarize([[0, 1]], {})["HR@1"]["ci_seeds"] == [None, None]  # One seed.
