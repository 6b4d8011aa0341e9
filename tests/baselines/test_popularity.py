"""Tests of the most-popular baseline and the training-sequence reader."""

from gr_jax import baselines
from gr_jax.baselines import popularity
from gr_jax_tasks import testing


def test_counts_and_ranking_with_stable_ties():
  pop = popularity.Popularity(["a", "b", "c", "d"]).fit({"u1": ["c", "b", "c"], "u2": ["b", "x", "c"]})
  assert pop.counts.tolist() == [0, 2, 3, 0]
  assert pop.ranking().tolist() == [2, 1, 0, 3]  # a before d: catalog order breaks ties.
  top = pop.predict(3, top_k=2)
  assert top.shape == (3, 2) and (top == [2, 1]).all()


def test_train_sequences_rebuilds_items_before_validation_and_test(tmp_path):
  seqs = {"u1": ["a", "b", "c", "d", "e"], "u2": ["c", "a", "b", "e", "d", "c", "b"]}
  testing.write_splits(str(tmp_path), seqs)
  assert baselines.train_sequences(str(tmp_path)) == {u: s[:-2] for u, s in seqs.items()}


def test_train_sequences_are_complete_beyond_the_history_cap(tmp_path):
  seqs = {"u1": [f"i{n}" for n in range(30)]}
  testing.write_splits(str(tmp_path), seqs, max_history=5)
  assert baselines.train_sequences(str(tmp_path))["u1"] == seqs["u1"][:-2]
