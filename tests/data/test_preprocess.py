"""Tests of gr_jax.data.preprocess: cleaning, k-core, chronology, leave-one-out, stats."""

import collections
import os
import random

import pytest

from gr_jax import io_utils
from gr_jax.data import peers
from gr_jax.data import preprocess
from gr_jax.data import schema


def test_clean_text_unescapes_strips_tags_and_collapses_space():
  assert preprocess.clean_text("Tom &amp;amp; Jerry<br/>  DVD\n\t&quot;new&quot;") == 'Tom & Jerry DVD "new"'
  assert preprocess.clean_text(None) == "" and preprocess.clean_text(["a ", "b"]) == "a b"


def test_chronological_is_stable_for_ties():
  seqs = preprocess.chronological([("u", "b", 2), ("u", "a", 1), ("u", "c", 2), ("v", "x", 5)])
  assert seqs == {"u": ["a", "b", "c"], "v": ["x"]}


def test_kcore_reaches_a_fixed_point():
  rng = random.Random(0)
  seqs = {f"u{u}": [f"i{int(rng.paretovariate(1.2)) % 60}" for _ in range(rng.randint(1, 12))]
          for u in range(300)}
  out = preprocess.kcore(seqs, 5)
  counts = collections.Counter(i for s in out.values() for i in s)
  assert out and all(len(s) >= 5 for s in out.values()) and min(counts.values()) >= 5
  # Nothing that survives is changed, and re-filtering is a no-op.
  assert preprocess.kcore(out, 5) == out
  for u, s in out.items():
    kept = [i for i in seqs[u] if i in counts]
    assert s == kept


def test_leave_one_out_targets_and_no_leakage():
  seqs = [("u1", ["a", "b", "c", "d", "e", "f"]), ("u2", ["x", "y"])]
  splits = preprocess.leave_one_out(seqs, max_history=2)
  assert [e.to_json() for e in splits["test"]] == [{"user_id": "u1", "history": ["d", "e"], "target": "f"}]
  assert splits["valid"][0].target == "e" and splits["valid"][0].history == ["c", "d"]
  train = [(e.history, e.target) for e in splits["train"]]
  assert train == [(["a"], "b"), (["a", "b"], "c"), (["b", "c"], "d")]
  # No training example predicts the valid/test positions of the user.
  assert all(t not in ("e", "f") for _, t in train)


def test_drop_untitled_and_stats():
  items = {"a": schema.Item("a", "A"), "b": schema.Item("b", "  ")}
  seqs, counts = preprocess.drop_untitled({"u": ["a", "b", "zz", "a"]}, items)
  assert seqs == {"u": ["a", "a"]}
  assert counts == {"items_without_title_or_metadata": 2, "interactions_dropped_for_missing_title": 2}
  stats = preprocess.compute_stats({"u": ["a", "b"], "v": ["a", "b", "c", "d"]})
  assert stats["users"] == 2 and stats["items"] == 4 and stats["interactions"] == 6
  assert stats["avg_length"] == 3.0 and stats["median_length"] == 3.0
  assert abs(stats["sparsity"] - (1 - 6 / 8)) < 1e-12


def _naive_kcore(seqs, k):
  while True:
    counts = collections.Counter(i for s in seqs.values() for i in s)
    kept = {u: [i for i in s if counts[i] >= k] for u, s in seqs.items()}
    kept = {u: s for u, s in kept.items() if len(s) >= k}
    if kept == seqs:
      return seqs
    seqs = kept


def test_kcore_on_real_data_matches_a_reference_fixed_point(shared_data_dir):
  seqs, _, _ = peers.load_recbole(os.path.join(shared_data_dir, "Scientific"), "Scientific")
  items_before = {i for s in seqs.values() for i in s}
  for k in (5, 6):
    out = preprocess.kcore(seqs, k)
    counts = collections.Counter(i for s in out.values() for i in s)
    assert min(len(s) for s in out.values()) >= k and min(counts.values()) >= k
    assert out == _naive_kcore(seqs, k)
  # The UniSRec data is already 5-core (a no-op); k=6 iterates down to 519 users, k=7 to none.
  assert preprocess.kcore(seqs, 5) == seqs and preprocess.kcore(seqs, 1) == seqs
  out = preprocess.kcore(seqs, 6)
  assert preprocess.kcore(seqs, 7) == {}
  assert len(out) == 519 and len({i for s in out.values() for i in s}) == 273 < len(items_before)


def test_chronological_dedupe_counts_exact_duplicates_only():
  counts = {}
  seqs = preprocess.chronological(
      [("u", "a", 1), ("u", "a", 1), ("u", "a", 2), ("v", "a", 1)], dedupe=True, counts=counts)
  assert seqs == {"u": ["a", "a"], "v": ["a"]} and counts == {"duplicate_interactions_dropped": 1}
  assert preprocess.chronological([("u", "a", 1), ("u", "a", 1)]) == {"u": ["a", "a"]}


def test_bad_lines_policy_and_line_reader(tmp_path):
  with pytest.raises(ValueError, match="on_bad_line"):
    preprocess.BadLines("ignore")
  path = tmp_path / "x.txt"
  path.write_bytes(b"ok\n\xff\xfe\nlast")
  with pytest.raises(io_utils.BadInputError) as e:
    list(preprocess.iter_lines(str(path)))
  assert e.value.line == 2 and "UTF-8" in e.value.why
  bad = preprocess.BadLines("skip")
  assert list(preprocess.iter_lines(str(path), bad)) == [(1, "ok\n"), (3, "last")]
  assert bad.to_stats()["bad_lines_per_file"] == {str(path): 1}


def test_peer_split_agreement_counts_equal_targets():
  ours = {"u": ["a", "b", "c"], "v": ["x", "y", "z"], "w": ["p", "q"]}
  got = preprocess.peer_split_agreement(ours, {"u": ("b", "c"), "v": ("y", "q"), "w": ("p", "q")})
  assert got == {"users_compared": 2, "valid_targets_equal": 2, "test_targets_equal": 1}
