"""Tests for gr_jax.parity.data on the real Scientific files (../shared/data)."""

import os

import numpy as np
import pytest

from gr_jax.parity import data


@pytest.fixture(scope="module")
def scientific(shared_data_dir):
  return data.load_dataset(os.path.join(shared_data_dir, "Scientific"))


def test_counts_match_sources_md(scientific):
  assert len(scientific.texts) == 4_385 and all(scientific.texts)
  assert len(scientific.sequences) == 8_442
  assert sum(map(len, scientific.sequences)) == 59_427


def test_seqrec_examples_leave_one_out(scientific):
  n = len(scientific.texts)
  idx = np.arange(n)
  sids = data.sid_token_ids(np.stack([idx // 289, (idx // 17) % 17, idx % 17], 1), [17, 17, 17])
  assert sids.min() == data.FIRST_SID_ID and sids[:, 1].min() == data.FIRST_SID_ID + 17
  train = data.seqrec_examples(scientific, sids, "train")
  assert len(train) == 59_427 - 3 * 8_442
  test = data.seqrec_examples(scientific, sids, "test")
  assert len(test) == 8_442
  seq = scientific.sequences[0]
  np.testing.assert_array_equal(test.targets[0], list(sids[seq[-1]]) + [data.EOS])
  hist = seq[:-1][-20:]
  np.testing.assert_array_equal(test.inputs[0][:3 * len(hist) + 1],
                                list(sids[hist].reshape(-1)) + [data.EOS])
  assert not test.inputs[0][3 * len(hist) + 1:].any()
  b = train.batch(np.arange(4))
  np.testing.assert_array_equal(b["decoder_input_tokens"][:, 1:],
                                b["decoder_target_tokens"][:, :-1])
  assert not b["decoder_input_tokens"][:, 0].any()


def test_batch_order_is_epochwise_permutation():
  order = data.batch_order(10, 3, 7, seed=0)
  assert all(len(r) == 3 for r in order)
  first_epoch = np.concatenate(order[:3])
  assert len(set(first_epoch.tolist())) == 9
  again = data.batch_order(10, 3, 7, seed=0)
  assert all((a == b).all() for a, b in zip(order, again))


def test_lsa_vectors_are_unit_and_similar_for_similar_text():
  texts = ["red drill bit steel", "steel drill bit red", "lab glass beaker", "glass beaker lab set",
           "sanding roll grit"] * 4
  x = data.lsa_vectors(texts, dim=4, buckets=256)
  assert x.shape == (20, 4) and x.dtype == np.float32
  np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
  assert x[0] @ x[1] > 0.99 and abs(x[0] @ x[2]) < 0.5


def test_bad_item2index_names_line(tmp_path):
  d = tmp_path / "X"
  d.mkdir()
  (d / "X.item2index").write_text("A\t0\nB\tone\n")
  with pytest.raises(ValueError, match=r"X.item2index:2"):
    data.load_dataset(str(d))
