"""TFDS builder `amazon_genrec`: the Amazon review dumps as leave-one-out sequences.

    import gr_jax.data.tfds_amazon  # registers the builder
    ds = tfds.load("amazon_genrec/Beauty", split="test",
                   download_and_prepare_kwargs={"download_config": tfds.download.DownloadConfig(
                       manual_dir="/path/to/dumps")})

Another category or policy: pass a config object, e.g.
    tfds_amazon.AmazonGenrec(config=tfds_amazon.AmazonGenRecConfig(name="Pet_Supplies",
                                                                   release="2018"))
The raw files (`reviews_<Cat>_5.json.gz` + `meta_<Cat>.json.gz` for 2014 categories,
`<Cat>_5.json.gz` + `meta_<Cat>.json.gz` for 2018 ones) are read from `manual_dir`
(they need a login-free but manual download). The builder runs the same code as
`gr-jax prepare` (gr_jax.data.amazon + preprocess: 5-core, chronological, max history
20, leave-one-out), so its splits equal the files `gr-jax prepare` writes:
  sequences   {user_id, items}                     one per user
  train       {user_id, history, target}           every prefix of items[:-2]
  validation  {user_id, history, target}           target items[-2]
  test        {user_id, history, target}           target items[-1]
  items       {item_id, title, description, brand, categories, image}
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from gr_jax.data import amazon
from gr_jax.data import layout
from gr_jax.data import preprocess

# Category -> release of the raw dumps the papers use.
CATEGORIES = {
    "Beauty": "2014", "Sports_and_Outdoors": "2014", "Toys_and_Games": "2014",
    "Musical_Instruments": "2018", "Arts_Crafts_and_Sewing": "2018", "Video_Games": "2018",
    "Industrial_and_Scientific": "2018", "Office_Products": "2018",
}


@dataclasses.dataclass
class AmazonGenRecConfig(tfds.core.BuilderConfig):
  """One Amazon category (name = the category as in the dump file names)."""
  release: str = "2014"
  kcore: int = preprocess.DEFAULT_KCORE
  max_history: int = layout.MAX_HISTORY
  untitled: str = "drop"  # As `gr-jax prepare --untitled`.


class AmazonGenrec(tfds.core.GeneratorBasedBuilder):
  """Amazon review sequences for generative recommendation (leave-one-out)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "5-core, chronological, leave-one-out, max history 20."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download the 5-core review file and the metadata file of the category from "
      "https://cseweb.ucsd.edu/~jmcauley/datasets/amazon/links.html (2014) or "
      "https://cseweb.ucsd.edu/~jmcauley/datasets/amazon_v2/ (2018) into manual_dir.")
  BUILDER_CONFIGS = [AmazonGenRecConfig(name=c, release=r, description=f"Amazon {r} {c}")
                     for c, r in CATEGORIES.items()]

  def _info(self) -> tfds.core.DatasetInfo:
    example = {"user_id": tfds.features.Text(),
               "history": tfds.features.Sequence(tfds.features.Text()),
               "target": tfds.features.Text()}
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            **example,
            "items": tfds.features.Sequence(tfds.features.Text()),
            "item_id": tfds.features.Text(), "title": tfds.features.Text(),
            "description": tfds.features.Text(), "brand": tfds.features.Text(),
            "categories": tfds.features.Sequence(tfds.features.Text()),
            "image": tfds.features.Text(),
        }),
        homepage="https://cseweb.ucsd.edu/~jmcauley/datasets.html")

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    cfg = self.builder_config
    sequences, items, _ = amazon.build(str(dl_manager.manual_dir), cfg.name, cfg.release,
                                       cfg.kcore, progress=False, untitled=cfg.untitled)
    ordered = list(preprocess.iter_sorted_users(sequences))
    splits = preprocess.leave_one_out(ordered, cfg.max_history)
    used = sorted({i for _, s in ordered for i in s})
    return {
        "sequences": self._generate_sequences(ordered),
        "train": self._generate_examples(splits["train"]),
        "validation": self._generate_examples(splits["valid"]),
        "test": self._generate_examples(splits["test"]),
        "items": self._generate_items([items[i] for i in used]),
    }

  @staticmethod
  def _empty():
    return {"user_id": "", "history": [], "target": "", "items": [], "item_id": "", "title": "",
            "description": "", "brand": "", "categories": [], "image": ""}

  def _generate_sequences(self, ordered):
    for user, seq in ordered:
      yield user, dict(self._empty(), user_id=user, items=seq)

  def _generate_examples(self, examples):
    for n, ex in enumerate(examples):
      yield n, dict(self._empty(), user_id=ex.user_id, history=ex.history, target=ex.target)

  def _generate_items(self, items):
    for it in items:
      yield it.item_id, dict(self._empty(), item_id=it.item_id, title=it.title,
                             description=it.description, brand=it.brand,
                             categories=it.categories, image=it.image or "")
