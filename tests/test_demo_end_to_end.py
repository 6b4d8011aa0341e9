"""Slow: `gr-jax demo --profile quick` end to end; the generative models beat most-popular clearly.

    GR_JAX_SLOW=1 python -m pytest tests/test_demo_end_to_end.py -q
"""

import json
import os

import pytest

from gr_jax import cli


@pytest.mark.slow
def test_quick_demo_beats_popularity_and_resumes(tmp_path, capsys):
  out = str(tmp_path / "demo")
  assert cli.main(["demo", "--out", out, "--profile", "quick"]) == 0
  printed = capsys.readouterr().out
  results = json.load(open(os.path.join(out, "results.json")))
  rows = {r["system"]: r for r in results["rows"]}
  pop = rows["Most-popular"]["HR@10"]
  for name in ("TIGER", "MACRec", "TriAlignGR"):
    assert rows[name]["HR@10"] >= max(1.5 * pop, pop + 0.02), (name, rows[name], pop)
    assert rows[name]["collision_rate"] == 0.0 and rows[name]["train_seconds"] > 0
    assert f"| {name} |" in printed
  # A rerun resumes: every stage is skipped and the table is identical.
  assert cli.main(["demo", "--out", out, "--profile", "quick"]) == 0
  assert json.load(open(os.path.join(out, "results.json")))["rows"] == results["rows"]
  assert "skipping" in capsys.readouterr().out
