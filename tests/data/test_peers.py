"""Tests of gr_jax.data.peers on the real peer-format datasets in ../shared/data and tiny files."""

import collections
import json
import os

import pytest

from gr_jax import io_utils
from gr_jax.data import peers
from gr_jax.data import preprocess
from gr_jax.data import sids as sids_lib


def _rows(path):
  """(user, history tuple, target) of a RecBole split file, as a multiset."""
  out = collections.Counter()
  with open(path) as f:
    next(f)
    for line in f:
      user, hist, target = line.rstrip("\n").split("\t")
      out[(user, tuple(hist.split()), target)] += 1
  return out


def _ours(examples):
  return collections.Counter((e.user_id, tuple(e.history), e.target) for e in examples)


@pytest.fixture(scope="module")
def scientific(shared_data_dir):
  raw = os.path.join(shared_data_dir, "Scientific")
  return raw, peers.load_recbole(raw, "Scientific")


def test_recbole_scientific_round_trips_all_three_peer_split_files(scientific):
  raw, (seqs, items, targets) = scientific
  assert len(seqs) == 8442 and len(items) == 4385
  assert sum(len(s) for s in seqs.values()) == 59427  # The published UniSRec figure.
  # UniSRec's protocol is ours with a 50-item history cap: every split file is reproduced.
  splits = preprocess.leave_one_out(preprocess.iter_sorted_users(seqs), max_history=50)
  for ours, theirs in (("train", "train"), ("valid", "valid"), ("test", "test")):
    assert _ours(splits[ours]) == _rows(os.path.join(raw, f"Scientific.{theirs}.inter")), ours
  agree = preprocess.peer_split_agreement(seqs, targets)
  assert agree == {"users_compared": 8442, "valid_targets_equal": 8442, "test_targets_equal": 8442}
  # Titles come from the UniSRec text (first sentence), keyed through item2index.
  assert items["0"].title.startswith("eSUN Bronze filament")
  assert all(i in items and items[i].title for s in seqs.values() for i in s)


def test_recbole_restores_histories_the_peer_capped_at_50(scientific):
  _, (seqs, _, _) = scientific
  long_users = {u: s for u, s in seqs.items() if len(s) > 51}
  assert len(long_users) == 3 and max(len(s) for s in long_users.values()) == 80
  # Order of capped rows comes from chaining the histories: user 247's row predicting 187
  # has a history ending in 711, so 711 comes right before 187.
  s = seqs["247"]
  assert s[-4:] == ["711", "187", "1249", "1455"]


def test_lcrec_reading_of_the_derived_inter_json_uses_the_unisrec_items(scientific,
                                                                        shared_data_dir):
  raw, (rec_seqs, rec_items, _) = scientific
  seqs, items, targets = peers.load_lcrec(raw, "Scientific")
  assert targets == {} and items == rec_items
  # The derived Scientific.inter.json equals the RecBole reconstruction except the 3 users
  # whose capped train rows it ordered by file position (see test above).
  differ = sorted(u for u in seqs if seqs[u] != rec_seqs[u])
  assert set(seqs) == set(rec_seqs) and len(differ) == 3 and "247" in differ
  assert all(sorted(seqs[u]) == sorted(rec_seqs[u]) for u in differ)


def test_recbole_games_item_file_and_split_agreement(shared_data_dir):
  raw = os.path.join(shared_data_dir, "Games")
  seqs, items, targets = peers.load_recbole(raw, "Games-6k")
  assert len(seqs) == 50546 and len(items) == 16859
  assert sum(len(s) for s in seqs.values()) == 440264
  assert items["0"].title == "Fire Emblem: The Sacred Stones"
  with open(os.path.join(raw, "Games.inter.json")) as f:
    assert {u: [str(i) for i in s] for u, s in json.load(f).items()} == seqs
  splits = preprocess.leave_one_out(preprocess.iter_sorted_users(seqs), max_history=0)
  assert _ours(splits["test"]) == _rows(os.path.join(raw, "Games-6k.test.inter"))
  assert _ours(splits["valid"]) == _rows(os.path.join(raw, "Games-6k.valid.inter"))
  assert preprocess.peer_split_agreement(seqs, targets)["test_targets_equal"] == 50546


def test_lcrec_tiny_item_json_and_unknown_item_policy(tmp_path):
  (tmp_path / "D.inter.json").write_text(json.dumps({"7": [1, 2, 3], "8": [2, 1, 3]}))
  (tmp_path / "D.item.json").write_text(
      json.dumps({"1": {"title": "A &amp; B", "categories": "X, Y"}, "2": {"title": ""}}))
  # Item 3 has no item record: the loader names the file and line where it is used.
  with pytest.raises(io_utils.BadInputError, match=r"unknown item id '3' \(not in D.item.json\)") as e:
    peers.load_lcrec(str(tmp_path), "D")
  assert e.value.path.endswith("D.inter.json") and e.value.line == 1
  skip = preprocess.BadLines("skip")
  kept, items, _ = peers.load_lcrec(str(tmp_path), "D", skip)
  assert kept == {"7": ["1", "2"], "8": ["2", "1"]} and skip.to_stats()["bad_lines_skipped"] == 1
  assert items["1"].title == "A & B" and items["1"].categories == ["X", "Y"]
  seqs = {"7": ["1", "2", "3"], "8": ["2", "1", "3"]}
  with pytest.raises(io_utils.BadInputError, match="no item record") as e:
    preprocess.placeholder_titles(seqs, items, "D", preprocess.BadLines())
  assert e.value.field == "item_id" and "'3'" in str(e.value)
  (tmp_path / "D.item2id").write_text("B01\t1\nB02\t2\n")
  with pytest.raises(io_utils.BadInputError, match="not in it") as e:
    peers.load_lcrec(str(tmp_path), "D")
  assert e.value.path.endswith("D.item2id") and "'3'" in str(e.value)
  bad = preprocess.BadLines("skip")
  kept, counts = preprocess.placeholder_titles(seqs, items, "D", bad)
  assert kept == {"7": ["1", "2"], "8": ["2", "1"]} and items["2"].title == "Item 2"
  assert counts == {"items_with_placeholder_title": 1, "unknown_item_ids_dropped": 1,
                    "interactions_with_unknown_items_dropped": 2}
  assert bad.to_stats()["bad_lines_skipped"] == 1


def _csv(path, rows):
  path.parent.mkdir(parents=True, exist_ok=True)
  lines = ["user_id,history_item_title,item_title,history_item_id,item_id"]
  for user, hist, target in rows:
    titles = str([f"t{i}" for i in hist]).replace('"', "'")
    lines.append(f'{user},"{titles}",t{target},"{hist}",{target}')
  path.write_text("\n".join(lines) + "\n")


def test_minionerec_time_split_sliding_windows_are_chained(tmp_path):
  # Time split with a 3-item history cap: user A spans all three files, B only valid+test.
  _csv(tmp_path / "train" / "Toys_5_2016-10-2018-11.csv",
       [("A", [1], 2), ("A", [1, 2], 3), ("A", [1, 2, 3], 4), ("A", [2, 3, 4], 5)])
  _csv(tmp_path / "valid" / "Toys_5_2016-10-2018-11.csv", [("A", [3, 4, 5], 6), ("B", [7, 8], 9)])
  _csv(tmp_path / "test" / "Toys_5_2016-10-2018-11.csv",
       [("A", [4, 5, 6], 7), ("A", [5, 6, 7], 8), ("B", [7, 8, 9], 1)])
  seqs, items, targets = peers.load_minionerec(str(tmp_path), "Toys")
  assert seqs == {"A": ["1", "2", "3", "4", "5", "6", "7", "8"], "B": ["7", "8", "9", "1"]}
  assert items["5"].title == "t5" and len(items) == 9  # Titles from the csv columns.
  assert targets == {"A": ("6", "8"), "B": ("9", "1")}
  # Leave-one-out keeps each user's last test target; A's time-split valid target (6) differs.
  assert preprocess.peer_split_agreement(seqs, targets) == {
      "users_compared": 2, "valid_targets_equal": 1, "test_targets_equal": 2}


def test_minionerec_index_items_and_bad_rows(tmp_path):
  _csv(tmp_path / "test" / "D_x.csv", [("9", [4, 5], 6)])
  (tmp_path / "index").mkdir()
  (tmp_path / "index" / "D.item.json").write_text(json.dumps({"4": {"title": "Real four"}}))
  seqs, items, _ = peers.load_minionerec(str(tmp_path), "D")
  assert seqs == {"9": ["4", "5", "6"]} and items["4"].title == "Real four"
  assert items["6"].title == "t6"
  with open(tmp_path / "test" / "D_x.csv", "a") as f:
    f.write('10,"[]",t,"[4, 5",6\n')
  with pytest.raises(io_utils.BadInputError) as e:
    peers.load_minionerec(str(tmp_path), "D")
  assert e.value.line == 3 and e.value.field == "history_item_id"
  bad = preprocess.BadLines("skip")
  seqs, _, _ = peers.load_minionerec(str(tmp_path), "D", bad)
  assert seqs == {"9": ["4", "5", "6"]} and bad.to_stats()["bad_lines_skipped"] == 1


def test_inconsistent_peer_rows_are_bad_input(tmp_path):
  header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
  (tmp_path / "X.valid.inter").write_text(header + "u\t1 2\t3\n")
  (tmp_path / "X.test.inter").write_text(header + "u\t1 9 3\t4\n")
  (tmp_path / "X.item").write_text("item_id:token\ttitle:token_seq\n1\ta\n")
  with pytest.raises(io_utils.BadInputError) as e:
    peers.load_recbole(str(tmp_path), "X")
  assert e.value.path.endswith("X.test.inter") and e.value.line == 2
  assert e.value.field == "item_id_list"


def test_lcrec_without_item_file_only_when_allowed(tmp_path):
  (tmp_path / "D.inter.json").write_text(json.dumps({"7": [1, 2, 3], "8": [2, 1, 3]}))
  with pytest.raises(FileNotFoundError, match="no item file for D"):
    peers.load_lcrec(str(tmp_path), "D")
  seqs, items, _ = peers.load_lcrec(str(tmp_path), "D", require_item_text=False)
  assert sorted(items) == ["1", "2", "3"] and all(it.title == "" for it in items.values())
  _, counts = preprocess.placeholder_titles(seqs, items, "D", preprocess.BadLines())
  assert counts["items_with_placeholder_title"] == 3 and items["2"].title == "Item 2"


def test_sid_import_reads_prefixes_sizes_and_rejects_collisions():
  doc = peers.sids_from_index({"1": ["<a_3>", "<b_0>"], "2": ["<a_1>", "<b_7>"]}, "lcrec",
                              item_ids={"1", "2"})
  mod = doc["modalities"]["text"]
  assert mod["prefixes"] == ["a", "b"] and mod["codebook_sizes"] == [4, 8]
  assert mod["sids"]["2"] == ["<a_1>", "<b_7>"]
  with pytest.raises(io_utils.BadInputError, match="same SID"):
    peers.sids_from_index({"1": ["<a_1>"], "2": ["<a_1>"]}, "x")
  kept = peers.sids_from_index({"1": ["<a_1>"], "2": ["<a_1>"]}, "x", allow_duplicates=True)
  assert kept["modalities"]["text"]["sids"] == {"1": ["<a_1>"], "2": ["<a_1>"]}
  with pytest.raises(io_utils.BadInputError, match="no SID"):
    peers.sids_from_index({"1": ["<a_1>"]}, "x", item_ids={"1", "2"})
  one = peers.sids_from_index({"1": "<a_1><b_2>"}, "x")
  assert one["modalities"]["text"]["sids"]["1"] == ["<a_1>", "<b_2>"]


def test_import_sids_writes_a_valid_tokenizer_run(tmp_path):
  from gr_jax.data import schema  # pylint: disable=g-import-not-at-top
  schema.write_items(str(tmp_path), [schema.Item("1", "a"), schema.Item("2", "b")])
  index = tmp_path / "D.index.json"
  index.write_text(json.dumps({"1": ["<a_0>", "<b_1>", "<c_2>"], "2": ["<a_0>", "<b_1>", "<c_3>"],
                               "3": ["<a_5>", "<b_0>", "<c_0>"]}))
  path = peers.import_sids(str(index), str(tmp_path), "lcrec")
  assert path == str(tmp_path / "tokenizer" / "lcrec" / "sids.json")
  doc = sids_lib.load_sids(path)
  assert doc["run"] == "lcrec" and sids_lib.sid_strings(doc, "text") == {
      "1": "<a_0><b_1><c_2>", "2": "<a_0><b_1><c_3>"}
  assert doc["modalities"]["text"]["codebook_sizes"] == [6, 2, 4]


def test_unisrec_text_split_keeps_titles_with_inner_full_stops(scientific):
  _, (_, items, _) = scientific
  root = "Industrial & Scientific"
  assert peers.split_unisrec_text(
      "Acme Co. Drill Bit, 5 mm. Industrial & Scientific Power Tools. Acme Co. ", root) == (
          "Acme Co. Drill Bit, 5 mm", "Industrial & Scientific Power Tools", "Acme Co")
  assert peers.split_unisrec_text("Fan, 24 Diameter, 120 Volt. . TPI. ", root) == (
      "Fan, 24 Diameter, 120 Volt", "", "TPI")
  assert peers.split_unisrec_text("Only a title", root) == ("Only a title", "", "")
  item = items["0"]
  assert item.brand == "eSUN" and item.categories[0].startswith(root)
  assert item.title.endswith("and all FDM 3D Printers") and item.description.endswith("eSUN")
  # 147 real titles contain ". " (e.g. "... 2 oz. Tube"); a first-sentence rule would cut them.
  assert sum(". " in it.title for it in items.values()) == 147
  assert items["3"].title != "" and any(it.title.endswith("2 oz. Tube") for it in items.values())


# ---- fault probes (issue 20): peer input is validated, never accepted silently -------------
def test_lcrec_duplicate_user_keys_and_empty_lists_are_bad_input(tmp_path):
  # json.load keeps the last of two equal keys: user 7 silently went from 6 items to 3.
  (tmp_path / "D.inter.json").write_text(
      '{\n"7": [1, 2, 3, 1, 2, 3],\n"8": [1, 2, 3],\n"7": [3, 2, 1],\n"9": []\n}\n')
  (tmp_path / "D.item.json").write_text(json.dumps({str(i): {"title": f"T{i}"} for i in (1, 2, 3)}))
  with pytest.raises(io_utils.BadInputError, match="duplicate key") as e:
    peers.load_lcrec(str(tmp_path), "D")
  assert e.value.path.endswith("D.inter.json") and e.value.line == 4 and e.value.field == "7"
  bad = preprocess.BadLines("skip")
  seqs, _, _ = peers.load_lcrec(str(tmp_path), "D", bad)
  assert seqs == {"7": ["1", "2", "3", "1", "2", "3"], "8": ["1", "2", "3"]}  # First kept; 9 empty.
  assert bad.to_stats()["bad_lines_skipped"] == 2
  assert any("D.inter.json:5 field '9': empty item list" in x for x in bad.examples)


def test_empty_split_files_are_bad_input_not_shifted_targets(tmp_path):
  _csv(tmp_path / "train" / "D_x.csv", [("A", [1], 2), ("A", [1, 2], 3)])
  _csv(tmp_path / "valid" / "D_x.csv", [("A", [1, 2, 3], 4)])
  (tmp_path / "test").mkdir()
  (tmp_path / "test" / "D_x.csv").write_bytes(b"")  # The 0-byte test csv.
  with pytest.raises(io_utils.BadInputError, match=r"test/D_x.csv: empty file \(0 bytes\)"):
    peers.load_minionerec(str(tmp_path), "D")
  (tmp_path / "test" / "D_x.csv").write_text(
      "user_id,history_item_title,item_title,history_item_id,item_id\n")  # Header only.
  with pytest.raises(io_utils.BadInputError, match="no data rows, while .*train/D_x.csv has 2"):
    peers.load_minionerec(str(tmp_path), "D", preprocess.BadLines("skip"))
  header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
  (tmp_path / "X.valid.inter").write_text(header + "u\t1 2\t3\n")
  (tmp_path / "X.test.inter").write_text(header)
  (tmp_path / "X.item").write_text("item_id:token\ttitle:token_seq\n1\ta\n2\tb\n3\tc\n")
  with pytest.raises(io_utils.BadInputError, match="X.test.inter: no data rows"):
    peers.load_recbole(str(tmp_path), "X")


def test_unknown_item_ids_name_the_file_and_line_that_uses_them(tmp_path):
  header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
  (tmp_path / "X.valid.inter").write_text(header + "u\t1 2\t3\nv\t1 3\t2\n")
  (tmp_path / "X.test.inter").write_text(header + "u\t1 2 3\t4\nv\t1 3 2\t77\n")
  (tmp_path / "X.item").write_text("item_id:token\ttitle:token_seq\n" +
                                   "".join(f"{i}\tt{i}\n" for i in (1, 2, 3, 4)))
  with pytest.raises(io_utils.BadInputError) as e:
    peers.load_recbole(str(tmp_path), "X")
  assert os.path.exists(e.value.path) and e.value.path.endswith("X.test.inter")
  assert e.value.line == 3 and "unknown item id '77' (not in X.item)" in str(e.value)
  bad = preprocess.BadLines("skip")
  seqs, _, _ = peers.load_recbole(str(tmp_path), "X", bad)
  assert seqs == {"u": ["1", "2", "3", "4"], "v": ["1", "3", "2"]}
  assert bad.to_stats()["bad_lines_skipped"] == 1


def test_minionerec_non_utf8_line_is_skippable_and_counted(tmp_path):
  _csv(tmp_path / "test" / "D_x.csv", [("9", [4, 5], 6), ("8", [4, 6], 5)])
  raw = (tmp_path / "test" / "D_x.csv").read_bytes().splitlines(keepends=True)
  raw.insert(2, b'7,"[\'t\xff\']",t,"[4]",5\n')
  (tmp_path / "test" / "D_x.csv").write_bytes(b"".join(raw))
  with pytest.raises(io_utils.BadInputError, match="not valid UTF-8") as e:
    peers.load_minionerec(str(tmp_path), "D")
  assert e.value.line == 3
  bad = preprocess.BadLines("skip")
  seqs, _, _ = peers.load_minionerec(str(tmp_path), "D", bad)
  assert seqs == {"9": ["4", "5", "6"], "8": ["4", "6", "5"]}
  assert bad.to_stats()["bad_lines_skipped"] == 1


def test_a_directory_where_a_file_belongs_is_bad_input(tmp_path):
  (tmp_path / "D.inter.json").mkdir()
  with pytest.raises(io_utils.BadInputError, match="is a directory, expected a file"):
    peers.load_lcrec(str(tmp_path), "D")
