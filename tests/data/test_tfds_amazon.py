"""The TFDS builder gives the same sequences and splits as `gr-jax prepare` on a tiny raw corpus."""

import json
import os

import tensorflow_datasets as tfds

from gr_jax import cli
from gr_jax.data import schema
from gr_jax.data import tfds_amazon

from tests.data import test_amazon  # pylint: disable=unused-import


def _decode(values):
  return [v.decode() for v in values]


def test_tfds_equals_prepare(tmp_path):
  raw = tmp_path / "raw"
  raw.mkdir()
  test_amazon.write_2014(raw, users=9, items=7)
  builder = tfds_amazon.AmazonGenrec(config="Beauty", data_dir=str(tmp_path / "tfds"))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(raw)))
  assert "amazon_genrec" in tfds.list_builders()
  out = str(tmp_path / "prepared")
  assert cli.main(["prepare", "--source", "amazon2014", "--raw_dir", str(raw), "--category",
                   "Beauty", "--out", out, "--quiet"]) == 0
  seqs = {ex["user_id"].decode(): _decode(ex["items"])
          for ex in tfds.as_numpy(builder.as_dataset(split="sequences"))}
  assert seqs == dict(schema.read_sequences(out))
  for split, ours in (("train", "train"), ("validation", "valid"), ("test", "test")):
    got = sorted((ex["user_id"].decode(), tuple(_decode(ex["history"])), ex["target"].decode())
                 for ex in tfds.as_numpy(builder.as_dataset(split=split)))
    want = sorted((e.user_id, tuple(e.history), e.target) for e in schema.read_split(out, ours))
    assert got == want and got
  titles = {ex["item_id"].decode(): ex["title"].decode()
            for ex in tfds.as_numpy(builder.as_dataset(split="items"))}
  assert titles == {k: v.title for k, v in schema.load_items(out).items()}
