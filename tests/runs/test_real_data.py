"""Slow: the whole pipeline on the real Scientific dataset (../shared/data) at reduced size.

    GR_JAX_SLOW=1 python -m pytest tests/runs/test_real_data.py -q
"""

import os

import pytest

from gr_jax.runs import real_data


@pytest.mark.slow
def test_scientific_reduced_far_above_popularity(shared_data_dir, tmp_path):
  out = str(tmp_path / "sci")
  results = real_data.run(shared_data_dir, "Scientific", out, max_users=1500,
                          methods=("tiger", "trialign"), eval_users=600, log=lambda *_: None)
  rows = {r["system"]: r for r in results["rows"]}
  pop = rows["Most-popular"]["HR@10"]
  for name in ("TIGER", "TriAlignGR"):
    assert rows[name]["HR@10"] >= max(2.0 * pop, pop + 0.02), (name, rows[name], pop)
    assert rows[name]["collision_rate"] == 0.0
  assert os.path.exists(os.path.join(out, "report.md"))
