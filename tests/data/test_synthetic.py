"""Tests of the synthetic catalog: determinism, factors, text, images, sequence structure."""

import io
import json
import os
import re
import time

import numpy as np
import pytest
from PIL import Image

from gr_jax.data import layout
from gr_jax.data import preprocess
from gr_jax.data import schema
from gr_jax.data import synthetic
from gr_jax.data import synthetic_images
from gr_jax.data import synthetic_text


@pytest.fixture(scope="module")
def demo():
  """Default demo size without images (about half a second)."""
  return synthetic.generate(2000, 3000, seed=0, progress=False)


@pytest.fixture(scope="module")
def with_images(tmp_path_factory):
  root = tmp_path_factory.mktemp("synthetic")
  cat = synthetic.generate(150, 60, seed=7, image_dir=str(root / "images"), progress=False)
  return root, cat


def _index(cat):
  return {item.item_id: k for k, item in enumerate(cat.items)}


def test_same_seed_gives_identical_catalog_and_png_bytes(tmp_path, with_images):
  root, first = with_images
  second = synthetic.generate(150, 60, seed=7, image_dir=str(tmp_path / "images"), progress=False)
  assert first.items == second.items
  assert first.sequences == second.sequences
  assert first.factors == second.factors
  for item in first.items[::10]:
    assert (root / item.image).read_bytes() == (tmp_path / item.image).read_bytes()
  other = synthetic.generate(150, 60, seed=8, progress=False)
  assert [i.title for i in other.items] != [i.title for i in first.items]
  assert other.sequences != first.sequences


def test_images_do_not_change_items_or_sequences(with_images):
  _, cat = with_images
  plain = synthetic.generate(150, 60, seed=7, progress=False)
  assert plain.sequences == cat.sequences
  assert [(i.title, i.description) for i in plain.items] == \
      [(i.title, i.description) for i in cat.items]
  assert all(i.image is None for i in plain.items)


def test_counts_ids_and_fields(demo):
  assert len(demo.items) == 2000 and len(demo.sequences) == 3000
  ids = [i.item_id for i in demo.items]
  assert ids[0] == "i000000" and ids[123] == "i000123" and len(set(ids)) == 2000
  assert [u for u, _ in demo.sequences[:3]] == ["u00000", "u00001", "u00002"]
  lengths = np.array([len(s) for _, s in demo.sequences])
  assert lengths.min() >= 5 and lengths.max() <= 30 and 10 < lengths.mean() < 18
  for item in demo.items[:200]:
    assert item.title and item.description and item.brand in synthetic_text.BRAND_NAMES
    dep, cat = item.categories
    assert synthetic_text.CATEGORY_DEPARTMENT[synthetic_text.CATEGORY_NAMES.index(cat)] == \
        synthetic_text.DEPARTMENT_NAMES.index(dep)
    assert item.image is None
  assert len({i.title for i in demo.items}) > 1900  # Titles are nearly unique.


def test_factors_file_is_json_and_matches_items(demo):
  f = json.loads(json.dumps(demo.factors))
  assert f["factor_names"] == synthetic.FACTOR_NAMES
  assert set(f["image_only_factors"]) == {"colour", "pattern"}
  assert set(f["text_only_factors"]) == {"audience", "material", "price_tier"}
  assert not set(f["image_only_factors"]) & set(f["text_only_factors"])
  assert list(f["items"]) == [i.item_id for i in demo.items]
  for item in demo.items[:300]:
    codes = f["items"][item.item_id]
    assert set(codes) == set(f["factor_names"])
    for name, value in codes.items():
      assert 0 <= value < len(f["values"][name])
    assert f["values"]["category"][codes["category"]] == item.categories[1]
    assert f["values"]["department"][codes["department"]] == item.categories[0]
  # Every factor value is used; colours follow the prior roughly.
  for name in f["factor_names"]:
    assert len(np.unique(demo.codes[name])) == len(f["values"][name]), name


def test_image_only_factors_never_appear_in_text(demo):
  banned = re.compile(r"\b(" + "|".join(synthetic_text.IMAGE_ONLY_WORDS) + r")\b", re.IGNORECASE)
  for item in demo.items:
    text = " ".join([item.title, item.description, item.brand] + item.categories)
    assert not banned.search(text), (item.item_id, banned.search(text).group(0), text)


def test_text_carries_the_text_factors(demo):
  values = demo.factors["values"]
  audience_words = {"kids": "kids|children", "women": "women", "men": "men",
                    "everyone": "unisex|anyone", "professionals": "professionals"}
  tier_words = {"budget": "affordable|value", "mid-range": "fair price|break the bank",
                "premium": "premium", "luxury": "luxury|top-of-the-line"}
  for item in demo.items:
    codes = demo.factors["items"][item.item_id]
    desc = item.description.lower()
    assert values["material"][codes["material"]] in desc
    assert re.search(r"\b(" + audience_words[values["audience"][codes["audience"]]] + r")\b", desc)
    assert re.search(tier_words[values["price_tier"][codes["price_tier"]]], desc)
    style_syns = synthetic_text.STYLES[values["style"][codes["style"]]][0]
    assert any(s in desc for s in style_syns)


def test_every_sequence_item_exists_and_no_immediate_repeats(demo):
  index = _index(demo)
  for _, seq in demo.sequences:
    assert all(i in index for i in seq)
    for t in range(1, len(seq)):
      assert seq[t] not in seq[max(0, t - 3):t]


def test_images_are_pngs_whose_dominant_colour_is_the_colour_factor(with_images):
  root, cat = with_images
  names = synthetic_text.COLOUR_NAMES
  for k, item in enumerate(cat.items):
    assert item.image == f"images/{item.item_id}.png"
    raw = (root / item.image).read_bytes()
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    Image.open(io.BytesIO(raw)).verify()
    pixels = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")).reshape(-1, 3).astype(int)
    assert pixels.shape == (64 * 64, 3)
    neutral_light = (pixels.min(1) > 150) & (pixels.max(1) - pixels.min(1) < 40)
    values, counts = np.unique(pixels[~neutral_light], axis=0, return_counts=True)
    mode = values[counts.argmax()]
    nearest = np.argmin(((synthetic_images.COLOUR_RGB - mode) ** 2).sum(1))
    assert names[nearest] == names[cat.codes["colour"][k]], item.item_id


def test_image_size_and_pattern_change_pixels(tmp_path):
  cat = synthetic.generate(30, 5, seed=1, image_dir=str(tmp_path / "img"), image_size=96,
                           progress=False)
  assert cat.items[0].image == f"img/{cat.items[0].item_id}.png"
  assert Image.open(tmp_path / cat.items[0].image).size == (96, 96)
  red = synthetic_images.COLOUR_RGB[0]
  solid = synthetic_images.render("circle", 0, "modern", red, "solid")
  for pattern in synthetic_text.PATTERN_NAMES[1:]:
    other = synthetic_images.render("circle", 0, "modern", red, pattern)
    changed = (other != solid).any(-1).mean()
    assert 0.03 < changed < 0.3, pattern  # The pattern covers part of the item, not all of it.
  shapes = {s: (synthetic_images.render(s, 0, "modern", red, "solid") != 255).any(-1)
            for s in synthetic_text.SHAPES}
  assert len({m.tobytes() for m in shapes.values()}) == len(shapes)


def test_sequences_are_predictable_above_popularity(demo):
  index = _index(demo)
  cat, col = demo.codes["category"], demo.codes["colour"]
  seqs = [np.array([index[i] for i in s]) for _, s in demo.sequences]
  train, test = seqs[:2400], seqs[2400:]
  trans = np.ones((24, 24))
  counts = np.zeros(len(demo.items))
  for q in train:
    np.add.at(trans, (cat[q[:-1]], cat[q[1:]]), 1)
    np.add.at(counts, q, 1)
  trans /= trans.sum(1, keepdims=True)
  popular_cat = np.bincount(cat[np.concatenate(train)], minlength=24).argmax()
  top_pop = set(np.argsort(-counts)[:10].tolist())
  markov = popular = hit_pop = hit_markov = same_colour = colour_chance = 0
  colour_p = np.bincount(col[np.concatenate(train)], minlength=10) / counts.sum()
  for q in test:
    hist, target = q[:-1], q[-1]
    markov += trans[cat[hist[-1]]].argmax() == cat[target]
    popular += popular_cat == cat[target]
    hit_pop += target in top_pop
    hist_colour = np.bincount(col[hist], minlength=10) / len(hist)
    score = trans[cat[hist[-1]]][cat] * (counts + 1) * (0.1 + hist_colour[col])
    hit_markov += target in np.argsort(-score)[:10]
    same_colour += col[target] == hist_colour.argmax()
    colour_chance += colour_p[hist_colour.argmax()]
  n = len(test)
  assert markov / n > 0.2 and markov > 2.5 * popular  # Repeat + complementary transitions.
  assert hit_pop / n > 0.01  # Popularity skew: most-popular is a real (weak) baseline.
  assert hit_markov > 2.5 * hit_pop  # A simple sequential model clearly beats most-popular.
  assert same_colour > 2 * colour_chance  # Users prefer an image-only factor.
  assert hit_markov / n < 0.5  # ... but the next item is far from deterministic.


def test_five_core_keeps_most_users_and_items(demo):
  kept = preprocess.kcore(dict(demo.sequences), 5)  # Checked against a naive k-core in test_preprocess.
  assert len(kept) > 0.97 * len(demo.sequences)
  assert len({i for s in kept.values() for i in s}) > 0.85 * len(demo.items)


def test_complements_and_vocabulary_are_consistent():
  assert set(synthetic_text.COMPLEMENTS) == set(synthetic_text.CATEGORY_NAMES)
  for name, (a, b) in synthetic_text.COMPLEMENTS.items():
    assert a != name and b != name and a != b
    assert a in synthetic_text.CATEGORY_NAMES and b in synthetic_text.CATEGORY_NAMES
  assert len(set(synthetic_text.BRAND_NAMES)) == 48


def test_too_few_items_is_an_error():
  with pytest.raises(ValueError, match="at least 24"):
    synthetic.generate(10, 5, progress=False)


def test_generate_scales_to_100k_items_without_images():
  start = time.perf_counter()
  cat = synthetic.generate(100_000, 2000, seed=0, progress=False)
  elapsed = time.perf_counter() - start
  assert len(cat.items) == 100_000 and cat.items[-1].item_id == "i099999"
  assert len(cat.factors["items"]) == 100_000
  assert elapsed < 6.0, f"100k items took {elapsed:.1f}s"


def test_prepare_style_round_trip_through_schema(tmp_path, with_images):
  _, cat = with_images
  schema.write_items(str(tmp_path), cat.items)
  schema.write_sequences(str(tmp_path), cat.sequences)
  assert list(schema.read_items(str(tmp_path))) == cat.items
  assert list(schema.read_sequences(str(tmp_path))) == cat.sequences
  assert not os.path.exists(tmp_path / layout.LATENT_FACTORS)
