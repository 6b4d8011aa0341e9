"""Tests of gr_jax.data.peers on the real peer-format datasets in ../shared/data and tiny files."""

import json
import os

import pytest

from gr_jax import io_utils
from gr_jax.data import peers
from gr_jax.data import preprocess


def _last_lines(path):
  out = {}
  with open(path) as f:
    next(f)
    for line in f:
      user, hist, target = line.rstrip("\n").split("\t")
      out[user] = (hist.split(), target)
  return out


def test_recbole_scientific_matches_the_peer_splits(shared_data_dir):
  raw = os.path.join(shared_data_dir, "Scientific")
  seqs, items = peers.load_recbole(raw, "Scientific")
  assert len(seqs) == 8442 and len(items) == 4385
  splits = preprocess.leave_one_out(preprocess.iter_sorted_users(seqs), max_history=0)
  valid = _last_lines(os.path.join(raw, "Scientific.valid.inter"))
  test = _last_lines(os.path.join(raw, "Scientific.test.inter"))
  for ex in splits["test"]:
    assert (ex.history, ex.target) == test[ex.user_id]
  for ex in splits["valid"]:
    assert ex.target == valid[ex.user_id][1]
  # Titles come from the UniSRec text (first sentence), keyed through item2index.
  assert items["0"].title.startswith("eSUN Bronze filament")


def test_recbole_games_item_file(shared_data_dir):
  seqs, items = peers.load_recbole(os.path.join(shared_data_dir, "Games"), "Games-6k")
  assert len(seqs) == 50546 and items["0"].title == "Fire Emblem: The Sacred Stones"
  assert all(i in items for i in seqs["0"])


def test_lcrec_and_minionerec_tiny(tmp_path):
  (tmp_path / "D.inter.json").write_text(json.dumps({"7": [1, 2, 3]}))
  (tmp_path / "D.item.json").write_text(json.dumps({"1": {"title": "A &amp; B"}, "2": {"title": "C"}}))
  seqs, items = peers.load_lcrec(str(tmp_path), "D")
  assert seqs == {"7": ["1", "2", "3"]} and items["1"].title == "A & B" and "3" not in items
  (tmp_path / "test").mkdir()
  (tmp_path / "index").mkdir()
  (tmp_path / "test" / "D_5_2016.csv").write_text(
      "user_id,history_item_id,item_id,item_title\n9,\"[4, 5]\",6,x\n")
  (tmp_path / "index" / "D.item.json").write_text(json.dumps({"4": {"title": "t4"}}))
  seqs, items = peers.load_minionerec(str(tmp_path), "D")
  assert seqs == {"9": ["4", "5", "6"]} and items["4"].title == "t4"


def test_sid_import_reads_prefixes_sizes_and_rejects_collisions(tmp_path):
  doc = peers.sids_from_index({"1": ["<a_3>", "<b_0>"], "2": ["<a_1>", "<b_7>"]}, "lcrec",
                              item_ids={"1", "2"})
  mod = doc["modalities"]["text"]
  assert mod["prefixes"] == ["a", "b"] and mod["codebook_sizes"] == [4, 8]
  assert mod["sids"]["2"] == ["<a_1>", "<b_7>"]
  with pytest.raises(io_utils.BadInputError, match="same SID"):
    peers.sids_from_index({"1": ["<a_1>"], "2": ["<a_1>"]}, "x")
  with pytest.raises(io_utils.BadInputError, match="no SID"):
    peers.sids_from_index({"1": ["<a_1>"]}, "x", item_ids={"1", "2"})
  assert peers.sids_from_index({"1": "<a_1><b_2>"}, "x")["modalities"]["text"]["sids"]["1"] == ["<a_1>", "<b_2>"]
