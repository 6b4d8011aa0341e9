"""Tests of the first-order category Markov baseline."""

import numpy as np
import pytest

from gr_jax import baselines
from gr_jax import evaluate
from gr_jax.baselines import markov
from gr_jax.data import schema
from gr_jax_tasks import testing

ITEMS = ["a1", "a2", "b1", "b2", "c1"]
CATS = ["A", "A", "B", "B", "C"]


def test_transition_and_within_category_probabilities_by_hand():
  seqs = {"u1": ["a1", "b1", "a1", "b2"], "u2": ["a2", "b1", "c1"]}
  rec = markov.CategoryMarkov(ITEMS, CATS, alpha=1.0).fit(seqs)
  # Category counts over the sequences: A 3, B 3, C 1 -> add-one marginal (4, 4, 2) / 10.
  marginal = np.array([4, 4, 2]) / 10.0
  # Pairs: A->B 3 (a1 b1, a1 b2, a2 b1), B->A 1, B->C 1.
  np.testing.assert_allclose(rec.transitions[0], (np.array([0, 3, 0]) + marginal) / 4.0)
  np.testing.assert_allclose(rec.transitions[1], (np.array([1, 0, 1]) + marginal) / 3.0)
  np.testing.assert_allclose(rec.transitions[2], marginal)  # C was never followed.
  np.testing.assert_allclose(rec.transitions.sum(axis=1), 1.0)
  # Within category: a1 2, a2 1 of A (3 + 2 items); b1 2, b2 1; c1 1 of 1.
  np.testing.assert_allclose(rec.within, [3 / 5, 2 / 5, 3 / 5, 2 / 5, 1.0])
  scores = rec.scores([["c1", "a2"]])[0]  # Last item a2 (category A).
  np.testing.assert_allclose(scores, rec.transitions[0][[0, 0, 1, 1, 2]] * rec.within)
  np.testing.assert_allclose(scores.sum(), 1.0)
  assert rec.predict([["c1", "a2"]], top_k=2).tolist() == [[2, 3]]  # b1, b2.


def test_last_known_item_decides_and_empty_history_gets_the_marginal():
  rec = markov.CategoryMarkov(ITEMS, CATS).fit({"u1": ["a1", "b1", "a2", "b2"]})
  np.testing.assert_allclose(rec.scores([["b1", "zzz"]]), rec.scores([["b1"]]))
  empty = rec.scores([[]])[0]
  np.testing.assert_allclose(empty, rec.transitions.mean(axis=0)[[0, 0, 1, 1, 2]] * rec.within)
  assert rec.scores([]).shape == (0, len(ITEMS))


def test_items_without_categories_make_an_item_to_item_chain():
  items = {i: schema.Item(item_id=i, title=i) for i in ["x", "y", "z"]}
  items["z"] = schema.Item(item_id="z", title="z", categories=["Top", "Leaf"])
  cats = markov.leaf_categories(items, ["x", "y", "z", "missing"])
  assert cats == ["<item:x>", "<item:y>", "Leaf", "<item:missing>"]
  rec = markov.CategoryMarkov(["x", "y", "z"], cats[:3]).fit({"u": ["x", "y", "x", "y", "z"]})
  assert rec.predict([["x"]], top_k=1).tolist() == [[1]]  # x was always followed by y.
  np.testing.assert_allclose(rec.within, 1.0)  # One item per "category".


def test_chunked_prediction_equals_one_pass():
  rng = np.random.default_rng(0)
  seqs = {f"u{n}": list(rng.choice(ITEMS, size=6)) for n in range(20)}
  rec = markov.CategoryMarkov(ITEMS, CATS).fit(seqs)
  histories = [list(rng.choice(ITEMS, size=3)) for _ in range(11)]
  whole = np.argsort(-rec.scores(histories), axis=1, kind="stable")[:, :4]
  np.testing.assert_array_equal(rec.predict(histories, top_k=4, chunk=3), whole)
  assert rec.predict(histories, top_k=50).shape == (11, len(ITEMS))


def test_rejects_bad_arguments():
  with pytest.raises(ValueError, match="2 categories for 5 items"):
    markov.CategoryMarkov(ITEMS, ["A", "B"])
  with pytest.raises(ValueError, match="alpha"):
    markov.CategoryMarkov(ITEMS, CATS, alpha=0.0)


def test_evaluate_baseline_counts_the_training_split_only(tmp_path):
  """Valid and test targets must not reach the counts: a pair seen only there scores as unseen."""
  d = str(tmp_path)
  # u1's last two items (valid and test targets) are the only A -> C transitions.
  seqs = {"u1": ["a1", "b1", "a2", "b2", "a1", "c1", "c1"], "u2": ["b1", "a2", "b2", "a1", "b1"]}
  testing.write_splits(d, seqs)
  schema.write_items(d, [schema.Item(item_id=i, title=i, categories=[c]) for i, c in zip(ITEMS, CATS)])
  examples = evaluate.split_examples(d, "test")
  preds = evaluate.baseline_predictions(d, examples, ITEMS, top_k=5, names=("markov",))["markov"]
  expected = markov.CategoryMarkov(ITEMS, CATS).fit(baselines.train_sequences(d)).predict(
      [ex.history for ex in examples], top_k=5)
  np.testing.assert_array_equal(preds, expected)
  leaky = markov.CategoryMarkov(ITEMS, CATS).fit(seqs)
  assert leaky.transitions[0, 2] > markov.CategoryMarkov(ITEMS, CATS).fit(
      baselines.train_sequences(d)).transitions[0, 2]


def test_unknown_baseline_names_the_choices(tmp_path):
  d = str(tmp_path)
  testing.write_splits(d, {"u1": ["a1", "b1", "a2", "b2"]})
  with pytest.raises(ValueError, match="popularity, sasrec, markov"):
    evaluate.baseline_predictions(d, [], ITEMS, 5, names=("knn",))
