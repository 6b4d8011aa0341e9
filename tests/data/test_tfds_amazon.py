"""The TFDS builder gives the same sequences and splits as `gr-jax prepare` on a tiny raw corpus."""

import gzip
import json

import tensorflow_datasets as tfds

from gr_jax import cli
from gr_jax.data import schema
from gr_jax.data import tfds_amazon
from tests.data import test_amazon


def _decode(values):
  return [v.decode() for v in values]


def test_tfds_load_equals_prepare(tmp_path):
  raw = tmp_path / "raw"
  raw.mkdir()
  test_amazon.write_2014(raw, users=9, items=7)
  # Policies both paths must share: an exact duplicate review (dropped) and a review of
  # an item without metadata (dropped before k-core).
  with gzip.open(raw / "reviews_Beauty_5.json.gz", "at", encoding="utf-8") as f:
    f.write(json.dumps({"reviewerID": "U0", "asin": "B001", "unixReviewTime": 1010}) + "\n")
    f.write(json.dumps({"reviewerID": "U1", "asin": "NOMETA", "unixReviewTime": 5}) + "\n")
  assert tfds_amazon.CATEGORIES["Beauty"] == "2014"
  download = tfds.download.DownloadConfig(manual_dir=str(raw))
  splits = tfds.load("amazon_genrec/Beauty", data_dir=str(tmp_path / "tfds"),
                     split=["sequences", "train", "validation", "test", "items"],
                     download_and_prepare_kwargs={"download_config": download})
  sequences, train, valid, test, items = (list(tfds.as_numpy(ds)) for ds in splits)

  out = str(tmp_path / "prepared")
  assert cli.main(["prepare", "--source", "amazon2014", "--raw_dir", str(raw), "--category",
                   "Beauty", "--out", out, "--quiet"]) == 0
  with open(f"{out}/stats.json") as f:
    stats = json.load(f)
  assert stats["duplicate_interactions_dropped"] == 1
  assert stats["items_without_title_or_metadata"] == 1

  seqs = {ex["user_id"].decode(): _decode(ex["items"]) for ex in sequences}
  assert seqs == dict(schema.read_sequences(out)) and len(seqs) == 9
  for got_split, ours in ((train, "train"), (valid, "valid"), (test, "test")):
    got = sorted((ex["user_id"].decode(), tuple(_decode(ex["history"])), ex["target"].decode())
                 for ex in got_split)
    want = sorted((e.user_id, tuple(e.history), e.target) for e in schema.read_split(out, ours))
    assert got == want and got
  prepared = schema.load_items(out)
  got_items = {ex["item_id"].decode(): ex for ex in items}
  assert set(got_items) == set(prepared)
  for item_id, ex in got_items.items():
    item = prepared[item_id]
    assert (ex["title"].decode(), ex["description"].decode(), ex["brand"].decode(),
            _decode(ex["categories"]), ex["image"].decode()) == (
                item.title, item.description, item.brand, item.categories, item.image or "")
