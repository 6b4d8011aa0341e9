"""AlignmentPairs: MACRec's text/image SID pairs, read through the one sids.json reader."""

import numpy as np
import pytest

from gr_jax import io_utils
from gr_jax import train_data
from gr_jax.data import sids
from gr_jax_tasks import testing


class _Vocab:
  """Token id = position in a fixed SID token list + 3; eos = 1."""
  eos_id = 1

  def __init__(self, tokens):
    self.ids = {t: i + 3 for i, t in enumerate(tokens)}

  def sid_token_ids(self, sid):
    return [self.ids[t] for t in sids.split_sid(sid)]


def test_from_sids_file_pairs_items_with_both_sids(tmp_path):
  items = [f"i{n}" for n in range(5)]
  text = testing.digit_sids(items, ["a", "b"], 3)
  image = testing.digit_sids(items[1:], ["c", "d"], 3, permute_seed=1)
  path = testing.write_sids(str(tmp_path), "macrec", {"text": text, "image": image})
  vocab = _Vocab(sids.tokens_for(["a", "b"], [3, 3]) + sids.tokens_for(["c", "d"], [3, 3]))
  pairs = train_data.AlignmentPairs.from_sids_file(path, vocab)
  assert pairs.item_ids == items[1:]  # i0 has no image SID.
  for n, item in enumerate(pairs.item_ids):
    assert list(pairs.text_NxS[n]) == vocab.sid_token_ids(text["sids"][item]) + [1]
    assert list(pairs.image_NxS[n]) == vocab.sid_token_ids(image["sids"][item]) + [1]
  batch = pairs.sample(step=3, n=2)
  assert batch["align_text_tokens"].shape == (2, 3) and batch["align_image_tokens"].shape == (2, 3)
  np.testing.assert_array_equal(batch["align_text_tokens"], pairs.sample(3, 2)["align_text_tokens"])


def test_from_sids_file_names_the_missing_modality(tmp_path):
  items = ["x", "y"]
  path = testing.write_sids(str(tmp_path), "tiger", {"text": testing.digit_sids(items, ["a"], 2)})
  with pytest.raises(io_utils.BadInputError, match=r"modalities\.image\.sids.*needs 'image'"):
    train_data.AlignmentPairs.from_sids_file(path, _Vocab(sids.tokens_for(["a"], [2])))
