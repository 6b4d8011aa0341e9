"""benchmarks/bench_cpu_dot_backend.py: the Eigen flag really changes the compiled dots, and the table."""

import os
import sys

import jax
import jax.numpy as jnp
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import bench_cpu_dot_backend as bench  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position


def _default_uses_ynn() -> bool:
  return "ynn" in jax.jit(jnp.matmul).lower(jnp.ones((8, 8)), jnp.ones((8, 8))).compile().as_text()


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="an XLA:CPU flag")
def test_eigen_flag_moves_dots_off_ynnpack():
  if not _default_uses_ynn():
    pytest.skip("this jaxlib does not fuse CPU dots into YNNPACK")
  tiny = [("quantize", "tiny", 1, 64, 32, 64)]
  results = {name: bench.run_backend(flags, [], 0.01, 1, skip_torch=True, shapes=tiny,
                                     peak_size=128)
             for name, flags in bench.BACKENDS.items()}
  assert results["ynnpack (default)"]["uses_ynn"] is True
  assert results["eigen"]["uses_ynn"] is False
  for r in results.values():
    assert r["peak_gflops"] > 0 and len(r["rows"]) == 1 and r["rows"][0]["xla"]["gflops"] > 0
  table = bench.compare(results)
  assert "| quantize | tiny | 64 x 32 x 64 |" in table and "NO effect" not in table


def test_compare_flags_a_flag_without_effect():
  row = {"path": "train", "what": "w", "shape": [4, 8, 16, 8], "mflop": 0.004,
         "xla": {"gflops": 10.0}, "torch": {"gflops": 30.0}}
  slow = dict(row, xla={"gflops": 5.0})
  results = {"ynnpack (default)": {"peak_gflops": 100.0, "uses_ynn": True, "rows": [row]},
             "eigen": {"peak_gflops": 50.0, "uses_ynn": True, "rows": [slow]}}
  table = bench.compare(results)
  assert "NO effect" in table
  assert "| train | w | [4] 8 x 16 x 8 | 10.0 (10 %) | 5.0 (5 %) | 0.50x | 3.00x |" in table
