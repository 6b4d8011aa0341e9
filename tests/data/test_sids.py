"""sids.json round trip and validation errors."""

import json
import os

import numpy as np
import pytest

from gr_jax import io_utils
from gr_jax.data import sids


def _write(tmp_path, doc):
  path = tmp_path / "sids.json"
  path.write_text(json.dumps(doc))
  return str(path)


def test_round_trip(tmp_path):
  ids = ["i1", "i2", "i3"]
  codes = np.array([[0, 5], [1, 5], [0, 6]])
  path = str(tmp_path / "sids.json")
  sids.write_sids(path, "macrec", {
      "text": sids.modality_entry(ids, codes, ["a", "b"], [2, 8]),
      "image": sids.modality_entry(ids, codes[::-1], ["A", "B"], [2, 8])})
  doc = sids.load_sids(path)
  assert doc["run"] == "macrec"
  assert doc["modalities"]["text"]["sids"]["i2"] == ["<a_1>", "<b_5>"]
  assert doc["modalities"]["image"]["sids"]["i1"] == ["<A_0>", "<B_6>"]
  assert sids.sid_strings(doc, "text")["i3"] == "<a_0><b_6>"
  np.testing.assert_array_equal(sids.codes_array(doc, "text", ids), codes)


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d["modalities"]["text"]["sids"].update(i2=["<a_0>", "<b_1>"]), "sids.i2"),
    (lambda d: d["modalities"]["text"]["sids"].update(i2=["<a_0>", "<c_1>"]), "sids.i2"),
    (lambda d: d["modalities"]["text"]["sids"].update(i2=["<a_9>", "<b_1>"]), "sids.i2"),
    (lambda d: d["modalities"]["text"]["sids"].update(i2=["<a_0>"]), "sids.i2"),
    (lambda d: d["modalities"]["text"].update(codebook_sizes=[2]), "codebook_sizes"),
    (lambda d: d["modalities"].update(image=dict(d["modalities"]["text"])), "prefixes"),
])
def test_validation_names_the_field(tmp_path, mutate, field):
  doc = {"run": "r", "modalities": {"text": {
      "prefixes": ["a", "b"], "codebook_sizes": [2, 2],
      "sids": {"i1": ["<a_0>", "<b_1>"], "i2": ["<a_1>", "<b_1>"]}}}}
  sids.load_sids(_write(tmp_path, doc))  # Valid as written.
  mutate(doc)
  with pytest.raises(io_utils.BadInputError, match=field):
    sids.load_sids(_write(tmp_path, doc))


def test_bad_sids_json_names_the_field(tmp_path):
  path = os.path.join(tmp_path, "tokenizer", "r", "sids.json")
  io_utils.atomic_write_json(path, {"modalities": {"text": {"prefixes": ["a", "b"],
                                                            "codebook_sizes": [4]}}})
  with pytest.raises(io_utils.BadInputError, match="codebook_sizes"):
    sids.read_layout(path)
  io_utils.atomic_write_json(path, {"modalities": {
      "text": {"prefixes": ["a"], "codebook_sizes": [4], "sids": {"i": ["<a_0>"]}},
      "image": {"prefixes": ["a"], "codebook_sizes": [4], "sids": {"i": ["<a_1>"]}}}})
  with pytest.raises(io_utils.BadInputError, match="shared"):
    sids.read_layout(path)


def test_split_sid():
  assert sids.split_sid("<a_1><B_22>") == ["<a_1>", "<B_22>"]
  assert sids.split_sid(["<a_1>"]) == ["<a_1>"]
  with pytest.raises(ValueError):
    sids.split_sid("a_1")


def test_token_syntax():
  assert sids.token("a", 7) == "<a_7>"
  assert sids.tokens_for(["a", "B2"], [2, 3]) == ["<a_0>", "<a_1>", "<B2_0>", "<B2_1>", "<B2_2>"]
  assert [m.groups() for m in sids.TOKEN_RE.finditer("<a_1><B2_22>")] == [("a", "1"), ("B2", "22")]
  with pytest.raises(ValueError, match="2 prefixes but 1"):
    sids.tokens_for(["a", "b"], [4])
