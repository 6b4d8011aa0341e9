"""Tests of the Flax SASRec baseline."""

import jax
import numpy as np
import pytest

from gr_jax.baselines import sasrec


def test_training_windows_chunk_long_sequences():
  x, y = sasrec.training_windows([[1, 2, 3, 4, 5, 6, 7], [8]], max_len=3)
  # 7 items -> windows ending at 7 and at 4 (non-overlapping targets); [8] has no target.
  assert x.tolist() == [[4, 5, 6], [1, 2, 3]]
  assert y.tolist() == [[5, 6, 7], [2, 3, 4]]
  x, y = sasrec.training_windows([[1, 2]], max_len=3)
  assert x.tolist() == [[0, 0, 1]] and y.tolist() == [[0, 0, 2]]


def test_causal_and_padding_invariance():
  cfg = sasrec.SASRecConfig(max_len=6, hidden=16)
  rec = sasrec.SASRecRecommender([f"i{n}" for n in range(9)], cfg)
  params = rec.init()
  apply = jax.jit(lambda x: rec.model.apply({"params": params}, x))
  a = apply(np.array([[0, 0, 3, 4, 5, 6]]))
  b = apply(np.array([[0, 0, 3, 4, 5, 9]]))
  # Changing the last item leaves earlier positions' outputs unchanged (causal).
  np.testing.assert_allclose(a[0, :5], b[0, :5], atol=1e-5)
  assert not np.allclose(a[0, 5], b[0, 5])
  c = apply(np.array([[0, 0, 0, 0, 5, 6]]))
  d = apply(np.array([[0, 0, 0, 1, 5, 6]]))
  assert not np.allclose(c[0, 5], d[0, 5])
  assert (np.asarray(a)[..., 0] < -1e8).all()  # Padding is never recommended.


def test_learns_a_deterministic_successor_and_ranks_every_item():
  n_items = 24
  items = [f"i{n}" for n in range(n_items)]
  rng = np.random.default_rng(0)
  sequences = {}
  for u in range(64):  # Each item is followed by the item 5 further on (mod n).
    start = int(rng.integers(n_items))
    sequences[f"u{u}"] = [items[(start + 5 * t) % n_items] for t in range(8)]
  histories = [[items[3], items[8]], [items[15], items[20]]]
  targets = [items[13], items[1]]
  # One block and 12 epochs suffice here (the causal test covers two blocks); compile dominates.
  cfg = sasrec.SASRecConfig(max_len=8, hidden=32, num_blocks=1, epochs=12, batch_size=16,
                            dropout=0.1, learning_rate=5e-3, eval_every=6, patience=0)
  rec = sasrec.SASRecRecommender(items, cfg).fit(sequences, valid=(histories, targets),
                                                 progress=False)
  top = rec.predict(histories, top_k=3)
  assert top[:, 0].tolist() == [13, 1]
  scores = rec.scores(histories)
  assert scores.shape == (2, n_items)
  np.testing.assert_array_equal(np.argsort(-scores, 1)[:, :3], top)
  assert rec.history[-1]["valid_hr10"] == 1.0
  assert rec.history[-1]["loss"] < rec.history[0]["loss"]


def test_unknown_history_items_are_dropped_and_empty_fit_fails():
  rec = sasrec.SASRecRecommender(["a", "b"], sasrec.SASRecConfig(max_len=4, hidden=8))
  assert rec.to_ids(["b", "zzz", "a"]) == [2, 1]
  with pytest.raises(ValueError, match="two or more"):
    rec.fit({"u": ["a"]}, progress=False)
