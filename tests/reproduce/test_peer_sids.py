"""Peers' SIDs with duplicates: kept as the peers do, or split by gr_jax's extra level."""

import json
import os
import sys

import pytest

from gr_jax import io_utils
from gr_jax import recommend
from gr_jax.data import schema
from gr_jax.reproduce import peer_sids
from gr_jax.data import sids as sids_lib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reproduce_fixtures  # pylint: disable=g-import-not-at-top,wrong-import-position


def _dataset(tmp_path):
  raw = str(tmp_path / "raw")
  info = reproduce_fixtures.write_mql4grec(raw)
  data = str(tmp_path / "data")
  items = [schema.Item(item_id=str(i), title=f"Item {i}") for i in range(info["items"])]
  os.makedirs(data)
  schema.write_items(data, items)
  files = {"text": os.path.join(raw, "Instruments.index_lemb.json"),
           "image": os.path.join(raw, "Instruments.index_vitemb.json")}
  return data, files, info


def test_peer_policy_keeps_duplicates_and_ties_go_to_the_first(tmp_path):
  data, files, info = _dataset(tmp_path)
  path = peer_sids.write(files, data, "p", "peer")
  doc = sids_lib.load_sids(path)  # Validates: duplicates allowed because they are declared.
  assert doc["duplicates"] == "kept"
  text = sids_lib.sid_strings(doc, "text")
  assert text["0"] == text["1"] and text["2"] == text["3"]
  rep = doc["duplicate_report"]["text"]
  assert (rep["items_sharing"], rep["groups"], rep["largest"]) == (4, 2, 2)
  assert doc["duplicate_report"]["image"]["items_sharing"] == 0
  ids = [str(i) for i in range(info["items"])]
  reps = peer_sids.representatives(text, ids)
  assert reps[1] == 0 and reps[3] == 2 and reps[5] == 5
  # The trie holds each SID once, for the first item: decoding can only return item 0, not 1.
  catalog = recommend.build_catalogs(_FakeVocab(), {"text": text}, ids)["text"]
  assert len(catalog.catalog_index) == info["items"] - 2
  assert 0 in catalog.catalog_index and 1 not in catalog.catalog_index


def test_extra_level_makes_every_sid_unique(tmp_path):
  data, files, info = _dataset(tmp_path)
  doc = sids_lib.load_sids(peer_sids.write(files, data, "x", "extra_level"))
  text = doc["modalities"]["text"]
  assert text["prefixes"] == ["a", "b", "c", "d", "e"] and text["codebook_sizes"][-1] == 2
  assert text["sids"]["0"][-1] == "<e_0>" and text["sids"]["1"][-1] == "<e_1>"
  assert text["sids"]["0"][:4] == text["sids"]["1"][:4]
  assert len(set(map(tuple, text["sids"].values()))) == info["items"]
  assert doc["modalities"]["image"]["prefixes"] == ["A", "B", "C", "D"]  # No duplicates there.
  assert doc["duplicates"] == "none"


def test_undeclared_duplicates_are_still_refused(tmp_path):
  data, files, _ = _dataset(tmp_path)
  doc = peer_sids.build(files, data, "p", "peer")
  doc.pop("duplicates")
  with pytest.raises(io_utils.BadInputError, match="is also the SID of"):
    sids_lib.validate(doc)


def test_sids_not_covering_the_catalog_name_the_file(tmp_path):
  data, files, _ = _dataset(tmp_path)
  with open(files["image"]) as f:
    index = json.load(f)
  del index["7"]
  with open(files["image"], "w") as f:
    json.dump(index, f)
  with pytest.raises(io_utils.BadInputError, match=r"index_vitemb.json field '7': 1 catalog items have no SID"):
    peer_sids.build(files, data, "p", "peer")


class _FakeVocab:
  """sid_token_ids over distinct tokens (enough for build_catalogs)."""

  def __init__(self):
    self.ids = {}

  def sid_token_ids(self, sid):
    toks = sid.replace("><", ">|<").split("|")
    return [self.ids.setdefault(t, len(self.ids) + 3) for t in toks]
