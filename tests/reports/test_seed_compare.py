"""gr_jax.reports.seed_compare: seed-averaged paired comparison from eval reports' ranks."""

import json
import math

import numpy as np
import pytest

from gr_jax import cli
from gr_jax import evaluate
from gr_jax.reports import seed_compare


def _report(path, ranks, digest="users-a", method="tiger"):
  path.write_text(json.dumps({"method": method, "users_digest": digest,
                              "ranks": {k: list(v) for k, v in ranks.items()}}))
  return str(path)


# Four users; ranks are 0-based, -1 = not in the top K.
TIGER = ([0, 12, 3, -1], [11, 2, 3, -1])
SASREC = ([1, -1, 9, 4], [-1, -1, 2, 4])


@pytest.fixture
def two_seeds(tmp_path):
  return [_report(tmp_path / f"s{i}.json", {"tiger": TIGER[i], "sasrec": SASREC[i]})
          for i in range(2)]


def _specs(paths):
  return ([seed_compare.RunSpec("TIGER", "tiger", p) for p in paths]
          + [seed_compare.RunSpec("SASRec", "sasrec", p) for p in paths])


def test_seed_means_and_paired_difference_by_hand(two_seeds):
  out = seed_compare.compare(_specs(two_seeds), reference="SASRec", metric="HR@10")
  tiger, sasrec = out["systems"]["TIGER"], out["systems"]["SASRec"]
  # HR@10 hits: TIGER seed 0 = [1,0,1,0], seed 1 = [0,1,1,0]; SASRec [1,0,1,1], [0,0,1,1].
  assert tiger["seeds"] == [0.5, 0.5] and sasrec["seeds"] == [0.75, 0.5]
  assert tiger["mean"] == 0.5 and sasrec["mean"] == 0.625
  assert sasrec["seed_sd"] == pytest.approx(np.std([0.75, 0.5], ddof=1))
  # Seed-averaged per-user hits: TIGER [.5,.5,1,0], SASRec [.5,0,1,1]; difference [0,.5,0,-1].
  d = np.array([0.0, 0.5, 0.0, -1.0])
  vs = tiger["vs_reference"]
  assert vs["diff"] == pytest.approx(d.mean())
  assert vs["se"] == pytest.approx(d.std(ddof=1) / 2.0)
  assert vs["seed_pair_diffs"] == pytest.approx([-0.25, 0.0])
  assert tiger["se_users"] == pytest.approx(np.std([0.5, 0.5, 1, 0], ddof=1) / 2.0)
  assert "vs_reference" not in sasrec
  # NDCG uses the same per-user metric as gr-jax evaluate.
  ndcg = seed_compare.compare(_specs(two_seeds), metric="NDCG@10")["systems"]["TIGER"]
  want = np.mean([evaluate.per_user_metric(r, "NDCG@10").mean() for r in TIGER])
  assert ndcg["mean"] == pytest.approx(want)
  assert math.isnan(seed_compare.compare(_specs(two_seeds[:1]))["systems"]["TIGER"]["seed_sd"])


def test_reports_of_other_users_are_refused_naming_the_file(tmp_path, two_seeds):
  other = _report(tmp_path / "other.json", {"tiger": TIGER[0], "sasrec": SASREC[0]},
                  digest="users-b")
  with pytest.raises(ValueError, match="other.json.*users differ"):
    seed_compare.compare(_specs(two_seeds) + [seed_compare.RunSpec("X", "tiger", other)])
  short = _report(tmp_path / "short.json", {"tiger": TIGER[0][:3]})
  with pytest.raises(ValueError, match="short.json"):
    seed_compare.compare(_specs(two_seeds) + [seed_compare.RunSpec("X", "tiger", short)])


def test_missing_system_file_and_reference_are_clear_errors(tmp_path, two_seeds):
  with pytest.raises(KeyError, match=r"s0.json.*'markov'.*sasrec, tiger"):
    seed_compare.compare([seed_compare.RunSpec("M", "markov", two_seeds[0])])
  with pytest.raises(FileNotFoundError, match="nope.json"):
    seed_compare.compare([seed_compare.RunSpec("M", "tiger", str(tmp_path / "nope.json"))])
  with pytest.raises(ValueError, match="reference 'Pop'"):
    seed_compare.compare(_specs(two_seeds), reference="Pop")


def test_parse_run_defaults_the_system_to_the_reports_method(two_seeds):
  spec = seed_compare.parse_run(f"TIGER={two_seeds[0]}")
  assert spec == seed_compare.RunSpec("TIGER", "", two_seeds[0])
  assert seed_compare.compare([spec])["systems"]["TIGER"]["mean"] == 0.5
  assert seed_compare.parse_run("S=sasrec@a/b.json") == seed_compare.RunSpec("S", "sasrec", "a/b.json")
  with pytest.raises(ValueError, match="LABEL=SYSTEM@REPORT"):
    seed_compare.parse_run("no-label")


def test_cli_prints_and_writes_the_table(tmp_path, two_seeds, capsys):
  out = tmp_path / "cmp"
  argv = ["compare-seeds", "--reference", "SASRec", "--out", str(out)]
  for p in two_seeds:
    argv += ["--run", f"TIGER=tiger@{p}", "--run", f"SASRec=sasrec@{p}"]
  assert cli.main(argv) == 0
  text = capsys.readouterr().out
  assert "| TIGER | 2 | 0.5000 / 0.5000 | 0.5000 ± 0.2041 |" in text
  assert "-0.1250 ± 0.3146 | -0.2500 / +0.0000 |" in text
  assert json.loads((tmp_path / "cmp.json").read_text())["systems"]["SASRec"]["mean"] == 0.625
  assert (tmp_path / "cmp.md").read_text().strip() == text.strip()


def test_evaluate_sasrec_seed_flag_reaches_the_config():
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser()
  evaluate.add_sasrec_arguments(parser)
  cfg = evaluate.sasrec_config_from_args(parser.parse_args(["--sasrec_seed", "3",
                                                            "--sasrec_epochs", "7"]))
  assert (cfg.seed, cfg.epochs) == (3, 7)
  default = evaluate.sasrec_config_from_args(parser.parse_args([]))
  from gr_jax.baselines import sasrec  # pylint: disable=g-import-not-at-top
  assert default == sasrec.SASRecConfig()
  # --sasrec_epochs 0 keeps meaning "the default", as before --sasrec_seed existed.
  assert evaluate.sasrec_config_from_args(parser.parse_args(["--sasrec_epochs", "0"])) == default
