"""Tests of `gr-jax prepare`: synthetic, raw dumps, peers, resume marker, errors."""

import json
import os

from gr_jax import cli
from gr_jax.data import schema

from tests.data import test_amazon  # pylint: disable=unused-import


def _read(path):
  return [json.loads(l) for l in open(path)]


def test_synthetic_dataset_dir_is_complete_and_kcored(tmp_path):
  out = str(tmp_path / "syn")
  assert cli.main(["prepare", "--source", "synthetic", "--out", out, "--items", "120",
                   "--users", "200", "--quiet"]) == 0
  stats = json.load(open(os.path.join(out, "stats.json")))
  items = schema.load_items(out)
  seqs = dict(schema.read_sequences(out))
  assert stats["users"] == len(seqs) and stats["items"] == len(items)
  assert all(len(s) >= 5 for s in seqs.values())
  assert all(os.path.exists(os.path.join(out, it.image)) for it in items.values())
  test = list(schema.read_split(out, "test"))
  assert len(test) == len(seqs) and all(ex.target == seqs[ex.user_id][-1] for ex in test)
  assert os.path.exists(os.path.join(out, "latent_factors.json"))
  # Same arguments: a no-op (files untouched); --force redoes it.
  mtime = os.path.getmtime(os.path.join(out, "items.jsonl"))
  assert cli.main(["prepare", "--source", "synthetic", "--out", out, "--items", "120",
                   "--users", "200", "--quiet"]) == 0
  assert os.path.getmtime(os.path.join(out, "items.jsonl")) == mtime


def test_amazon2014_end_to_end_with_kcore(tmp_path):
  raw = tmp_path / "raw"
  raw.mkdir()
  test_amazon.write_2014(raw, users=8, items=6)
  out = str(tmp_path / "beauty")
  assert cli.main(["prepare", "--source", "amazon2014", "--raw_dir", str(raw), "--category",
                   "Beauty", "--out", out, "--quiet"]) == 0
  stats = json.load(open(os.path.join(out, "stats.json")))
  assert stats["users"] == 8 and stats["kcore"] == 5 and stats["max_history"] == 20
  assert schema.load_items(out)["B001"].brand == "Acme"
  assert len(_read(os.path.join(out, "splits", "train.jsonl"))) == 8 * 2


def test_recbole_reduced_size_and_clear_errors(tmp_path, shared_data_dir, capsys):
  out = str(tmp_path / "sci")
  assert cli.main(["prepare", "--source", "recbole", "--raw_dir",
                   os.path.join(shared_data_dir, "Scientific"), "--dataset", "Scientific",
                   "--out", out, "--max_users", "300", "--quiet"]) == 0
  assert json.load(open(os.path.join(out, "stats.json")))["users"] == 300
  bad = tmp_path / "bad"
  bad.mkdir()
  (bad / "X.test.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n1\t2 3\n")
  assert cli.main(["prepare", "--source", "recbole", "--raw_dir", str(bad), "--dataset", "X",
                   "--out", str(tmp_path / "x"), "--quiet"]) == 2
  err = capsys.readouterr().err
  assert "X.test.inter:2:" in err and "header has 3" in err
