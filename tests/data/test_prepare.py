"""Tests of `gr-jax prepare`: synthetic, raw dumps, peers, split invariants, resume marker, errors."""

import argparse
import collections
import gzip
import json
import os

from gr_jax import cli
from gr_jax.data import layout
from gr_jax.data import schema
from gr_jax.data import sids as sids_lib
from tests.data import test_amazon
from tests.data import test_peers


def _stats(out):
  with open(os.path.join(out, "stats.json")) as f:
    return json.load(f)


def assert_dataset_invariants(out, max_history=20):
  """The contract of a prepared dir: catalog closure, exact leave-one-out, no leakage."""
  items = schema.load_items(out)
  seqs = dict(schema.read_sequences(out))
  used = {i for s in seqs.values() for i in s}
  assert set(items) == used and all(it.title.strip() for it in items.values())
  cap = (lambda h: h[-max_history:]) if max_history else (lambda h: h)
  splits = {name: collections.defaultdict(list) for name in layout.SPLIT_NAMES}
  for name in layout.SPLIT_NAMES:
    for ex in schema.read_split(out, name):
      assert ex.target in items and all(i in items for i in ex.history)
      splits[name][ex.user_id].append(ex)
  for user, seq in seqs.items():
    if len(seq) < 3:
      assert user not in splits["test"]
      continue
    (valid,), (test,) = splits["valid"][user], splits["test"][user]
    assert (valid.history, valid.target) == (cap(seq[:-2]), seq[-2])
    assert (test.history, test.target) == (cap(seq[:-1]), seq[-1])
    train = splits["train"][user]
    # Train predicts exactly positions 1..n-3: never the valid or the test position.
    assert [ex.target for ex in train] == seq[1:-2]
    assert all(ex.history == cap(seq[:t + 1]) and ex.history for t, ex in enumerate(train))
  stats = _stats(out)
  assert stats["users"] == len(seqs) and stats["items"] == len(items)
  assert stats["interactions"] == sum(len(s) for s in seqs.values())
  assert stats["test_examples"] == sum(len(v) for v in splits["test"].values())
  assert stats["train_examples"] == sum(len(v) for v in splits["train"].values())
  return items, seqs, stats


def test_synthetic_dataset_dir_is_complete_kcored_and_resumable(tmp_path):
  out = str(tmp_path / "syn")
  argv = ["prepare", "--source", "synthetic", "--out", out, "--items", "120", "--users", "200",
          "--quiet"]
  assert cli.main(argv) == 0
  items, seqs, stats = assert_dataset_invariants(out)
  counts = collections.Counter(i for s in seqs.values() for i in s)
  assert min(len(s) for s in seqs.values()) >= 5 and min(counts.values()) >= 5
  assert stats["kcore"] == 5 and stats["source"] == "synthetic"
  assert all(os.path.exists(os.path.join(out, it.image)) for it in items.values())
  with open(os.path.join(out, "latent_factors.json")) as f:
    assert set(items) <= set(json.load(f)["items"])
  # Same arguments: a no-op (files untouched); --force or other arguments redo it.
  items_path = os.path.join(out, "items.jsonl")
  mtime = os.stat(items_path).st_mtime_ns
  assert cli.main(argv) == 0 and os.stat(items_path).st_mtime_ns == mtime
  assert cli.main(argv + ["--force"]) == 0 and os.stat(items_path).st_mtime_ns != mtime
  assert cli.main(argv[:-2] + ["150", "--quiet"]) == 0 and _stats(out)["users"] < stats["users"]
  # A finished marker whose files were deleted does not count as done.
  os.remove(schema.split_path(out, "test"))
  assert cli.main(argv[:-2] + ["150", "--quiet"]) == 0
  assert os.path.exists(schema.split_path(out, "test"))


def test_amazon2014_end_to_end_with_kcore(tmp_path):
  raw = tmp_path / "raw"
  raw.mkdir()
  test_amazon.write_2014(raw, users=8, items=6)
  out = str(tmp_path / "beauty")
  assert cli.main(["prepare", "--source", "amazon2014", "--raw_dir", str(raw), "--category",
                   "Beauty", "--out", out, "--quiet"]) == 0
  items, _, stats = assert_dataset_invariants(out)
  assert stats["users"] == 8 and stats["kcore"] == 5 and stats["max_history"] == 20
  assert items["B001"].brand == "Acme" and items["B001"].title == "Lipstick & Gloss 1"
  assert stats["train_examples"] == 8 * 2 and stats["bad_lines_skipped"] == 0


def test_bad_lines_error_or_skip_end_to_end(tmp_path, capsys):
  raw = tmp_path / "raw"
  raw.mkdir()
  test_amazon.write_2014(raw, users=8, items=6)
  path = raw / "reviews_Beauty_5.json.gz"
  with gzip.open(path, "rb") as f:
    lines = f.read().splitlines()
  lines[3:3] = [b'{"reviewerID": "U0", "asin": ', b'{"reviewerID": "Z\xe9", "asin": "B000"}']
  with gzip.open(path, "wb") as f:
    f.write(b"\n".join(lines) + b"\n")
  argv = ["prepare", "--source", "amazon2014", "--raw_dir", str(raw), "--category", "Beauty",
          "--out", str(tmp_path / "out"), "--quiet"]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err
  assert "reviews_Beauty_5.json.gz:4" in err and "not JSON" in err
  assert not os.path.exists(tmp_path / "out" / "prepare_done.json")
  assert cli.main(argv + ["--on_bad_line", "skip"]) == 0
  assert "skipped 2 bad lines" in capsys.readouterr().err
  _, _, stats = assert_dataset_invariants(str(tmp_path / "out"))
  assert stats["bad_lines_skipped"] == 2 and stats["users"] == 8
  assert any("not valid UTF-8" in e for e in stats["bad_line_examples"])


def test_recbole_scientific_full_prepare_keeps_the_peer_splits(tmp_path, shared_data_dir):
  out = str(tmp_path / "sci")
  assert cli.main(["prepare", "--source", "recbole", "--raw_dir",
                   os.path.join(shared_data_dir, "Scientific"), "--dataset", "Scientific",
                   "--out", out, "--max_history", "50", "--quiet"]) == 0
  _, _, stats = assert_dataset_invariants(out, max_history=50)
  assert (stats["users"], stats["items"], stats["interactions"]) == (8442, 4385, 59427)
  assert stats["train_examples"] == 59427 - 3 * 8442 and stats["kcore"] == 0
  assert stats["peer_split_agreement"] == {
      "users_compared": 8442, "valid_targets_equal": 8442, "test_targets_equal": 8442}
  assert stats["items_with_placeholder_title"] == 0 and stats["unknown_item_ids_dropped"] == 0
  # Our split files equal the peer's own split files (UniSRec caps histories at 50).
  for name in layout.SPLIT_NAMES:
    ours = collections.Counter((e.user_id, tuple(e.history), e.target)
                               for e in schema.read_split(out, name))
    assert ours == test_peers._rows(os.path.join(shared_data_dir, "Scientific",
                                                 f"Scientific.{name}.inter")), name


def test_reduced_size_lcrec_with_imported_sids_and_clear_errors(tmp_path, capsys):
  raw = tmp_path / "lc"
  raw.mkdir()
  inter = {str(u): [(u + k) % 9 for k in range(6)] for u in range(12)}
  (raw / "D.inter.json").write_text(json.dumps(inter))
  (raw / "D.item.json").write_text(json.dumps({str(i): {"title": f"T{i}"} for i in range(9)}))
  (raw / "D.index.json").write_text(json.dumps(
      {str(i): [f"<a_{i % 3}>", f"<b_{i // 3}>", "<c_0>"] for i in range(9)}))
  out = str(tmp_path / "out")
  assert cli.main(["prepare", "--source", "lcrec", "--raw_dir", str(raw), "--dataset", "D",
                   "--out", out, "--max_users", "5", "--import_sids", str(raw / "D.index.json"),
                   "--sid_run", "lcrec", "--quiet"]) == 0
  _, seqs, stats = assert_dataset_invariants(out)
  assert sorted(seqs, key=int) == ["0", "1", "2", "3", "4"] and seqs["1"] == ["1", "2", "3", "4", "5", "6"]
  doc = sids_lib.load_sids(os.path.join(out, "tokenizer", "lcrec", "sids.json"))
  assert set(doc["modalities"]["text"]["sids"]) == {str(i) for i in range(9)}
  assert doc["modalities"]["text"]["codebook_sizes"] == [3, 3, 1]
  bad = tmp_path / "bad"
  bad.mkdir()
  (bad / "X.test.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n1\t2 3\n")
  (bad / "X.item").write_text("item_id:token\ttitle:token_seq\n2\ta\n")
  assert cli.main(["prepare", "--source", "recbole", "--raw_dir", str(bad), "--dataset", "X",
                   "--out", str(tmp_path / "x"), "--quiet"]) == 2
  err = capsys.readouterr().err
  assert "X.test.inter:2:" in err and "header has 3" in err


def test_minionerec_via_cli(tmp_path):
  raw = tmp_path / "mini"
  test_peers._csv(raw / "test" / "Toys_5.csv", [("A", [1, 2, 3], 4), ("B", [2, 3, 4], 1)])
  test_peers._csv(raw / "valid" / "Toys_5.csv", [("A", [1, 2], 3), ("B", [2, 3], 4)])
  out = str(tmp_path / "out")
  assert cli.main(["prepare", "--source", "minionerec", "--raw_dir", str(raw), "--dataset", "Toys",
                   "--out", out, "--quiet"]) == 0
  _, seqs, stats = assert_dataset_invariants(out)
  assert seqs == {"A": ["1", "2", "3", "4"], "B": ["2", "3", "4", "1"]}
  assert stats["peer_split_agreement"]["test_targets_equal"] == 2


def test_every_flag_has_help():
  parser = cli.build_parser(only="prepare")
  sub = next(a for a in parser._actions if a.dest == "command").choices["prepare"]  # pylint: disable=protected-access
  flags = [a for a in sub._actions  # pylint: disable=protected-access
           if a.option_strings and a.dest != "help" and a.help != argparse.SUPPRESS]
  assert len(flags) >= 18
  for action in flags:
    assert action.help and len(action.help) > 15, action.option_strings


def test_synthetic_without_images_for_benchmarks(tmp_path):
  out = str(tmp_path / "noimg")
  assert cli.main(["prepare", "--source", "synthetic", "--out", out, "--items", "100", "--users",
                   "150", "--image_size", "0", "--kcore", "0",
                   "--quiet"]) == 0
  items, seqs, stats = assert_dataset_invariants(out)
  assert all(it.image is None for it in items.values()) and not os.path.exists(f"{out}/images")
  assert stats["kcore"] == 0 and stats["users"] == 150


# ---- fault probes (issue 20): prepare is all or nothing; later stages need its marker ---------
def _lcrec_raw(root, users=6):
  root.mkdir(parents=True, exist_ok=True)
  (root / "D.inter.json").write_text(json.dumps({str(u): [(u + k) % 9 for k in range(6)]
                                                 for u in range(users)}))
  (root / "D.item.json").write_text(json.dumps({str(i): {"title": f"T{i}"} for i in range(9)}))
  return root


def test_failed_sid_import_leaves_nothing_and_enrich_refuses_the_dir(tmp_path, capsys):
  raw = _lcrec_raw(tmp_path / "lc")
  (raw / "bad.index.json").write_text(json.dumps({"0": ["<a_0>"]}))  # 8 items have no SID.
  out = tmp_path / "out"
  argv = ["prepare", "--source", "lcrec", "--raw_dir", str(raw), "--dataset", "D", "--out",
          str(out), "--quiet", "--import_sids", str(raw / "bad.index.json")]
  assert cli.main(argv) == 2
  assert "catalog items have no SID" in capsys.readouterr().err
  assert not out.exists() and not (tmp_path / "out.prepare-tmp").exists()
  # A finished dataset survives a failed redo untouched (marker included).
  assert cli.main(argv[:-2]) == 0
  before = {p: (out / p).read_bytes() for p in ("items.jsonl", "stats.json", "prepare_done.json")}
  assert cli.main(argv + ["--max_users", "3"]) == 2
  assert {p: (out / p).read_bytes() for p in before} == before
  assert not (out / "tokenizer").exists()
  # Later stages refuse a dir without a valid marker, in one line.
  (out / "prepare_done.json").unlink()
  capsys.readouterr()
  assert cli.main(["enrich", "--data", str(out), "--no_progress"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "not a finished `gr-jax prepare` output" in err[0]
  assert not (out / "enrich").exists()


def test_directory_instead_of_a_dump_is_one_line_and_debug_keeps_the_traceback(tmp_path, capsys):
  raw = _lcrec_raw(tmp_path / "lc")
  (raw / "D.item.json").unlink()
  (raw / "D.item.json").mkdir()
  argv = ["prepare", "--source", "lcrec", "--raw_dir", str(raw), "--dataset", "D", "--out",
          str(tmp_path / "out"), "--quiet"]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "D.item.json: is a directory, expected a file" in err[0]
  import pytest  # pylint: disable=g-import-not-at-top
  from gr_jax import io_utils  # pylint: disable=g-import-not-at-top
  with pytest.raises(io_utils.BadInputError):
    cli.main(["--debug"] + argv)
  with pytest.raises(io_utils.BadInputError):
    cli.main(argv + ["--debug"])


def test_users_too_short_for_splits_are_counted(tmp_path):
  raw = _lcrec_raw(tmp_path / "lc")
  inter = json.loads((raw / "D.inter.json").read_text())
  inter["99"] = [1, 2]
  (raw / "D.inter.json").write_text(json.dumps(inter))
  out = str(tmp_path / "out")
  assert cli.main(["prepare", "--source", "lcrec", "--raw_dir", str(raw), "--dataset", "D",
                   "--out", out, "--quiet"]) == 0
  stats = _stats(out)
  assert stats["users_too_short_for_splits"] == 1 and stats["test_examples"] == 6
