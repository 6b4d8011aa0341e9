"""Tests of gr_jax.data.synthetic_ceiling: the demo generator's next-item distribution."""

import numpy as np
import pytest

from gr_jax.data import synthetic
from gr_jax.data import synthetic_ceiling as ceiling


@pytest.fixture(scope="module")
def catalog():
  return synthetic.generate(200, 300, seed=3, image_dir=None, progress=False)


def _last_item_examples(catalog):
  return [(u, seq[:-1], seq[-1]) for u, seq in catalog.sequences]


def test_user_latents_are_exposed_in_user_order(catalog):
  mixture = catalog.users["mixture"]
  assert mixture.shape == (300, 24)
  np.testing.assert_allclose(mixture.sum(1), 1.0, atol=1e-5)
  assert set(catalog.users["affinity"]) == {"colour", "pattern", "style", "audience", "price_tier"}
  # Exposing them changed no draw: the same seed gives the same sequences.
  again = synthetic.generate(200, 300, seed=3, image_dir=None, progress=False)
  assert again.sequences == catalog.sequences


@pytest.mark.parametrize("mode", ceiling.MODES)
def test_next_item_probs_are_a_distribution_without_the_last_three(catalog, mode):
  process = ceiling.NextItemProcess(catalog, synthetic.SequenceConfig())
  history = [0, 5, 9, 17]
  p = ceiling.next_item_probs(process, 7, history, mode, np.random.default_rng(0), samples=128)
  assert p.shape == (200,) and np.all(p >= 0)
  assert p.sum() == pytest.approx(1.0)
  assert np.all(p[history[-3:]] == 0) and p[0] > 0
  q = ceiling.next_item_probs(process, 7, history, mode, np.random.default_rng(0), samples=128)
  np.testing.assert_array_equal(p, q)  # Deterministic given the generator.


def test_a_repeat_only_process_keeps_the_mass_in_the_last_category(catalog):
  cfg = synthetic.SequenceConfig(p_repeat=1.0, p_complement=0.0, p_noise=0.0)
  process = ceiling.NextItemProcess(catalog, cfg)
  history = [0, 1, 2, 3]
  p = ceiling.next_item_probs(process, 0, history, "full", np.random.default_rng(0), samples=64)
  same = process.category == process.category[3]
  # Only the uniform random draw leaves the category.
  expected_outside = cfg.p_random_item * (~same).sum() / 200
  assert p[~same].sum() == pytest.approx(expected_outside, rel=0.05)


def test_knowing_the_users_taste_raises_the_ceiling(catalog):
  examples = _last_item_examples(catalog)
  full = ceiling.ceiling_hr(catalog, examples, "full", samples=128)
  markov = ceiling.ceiling_hr(catalog, examples, "markov", samples=128)
  assert full["n"] == markov["n"] == 300
  assert 0 < markov["HR@10"] < full["HR@10"] <= 1
  assert full["HR@10"] - markov["HR@10"] > 3 * full["HR@10_se"]
  assert full["HR@1"] <= full["HR@5"] <= full["HR@10"]
  # Ranking fewer items (a 5-core catalog) can only help the target.
  kept = [it.item_id for it in catalog.items[:150]]
  inside = [e for e in examples if e[2] in set(kept)]
  small = ceiling.ceiling_hr(catalog, inside, "markov", items=kept, samples=128)
  base = ceiling.ceiling_hr(catalog, inside, "markov", samples=128)
  assert small["HR@10"] >= base["HR@10"]


def test_inferred_taste_recovers_the_favourites_a_history_shows(catalog):
  process = ceiling.NextItemProcess(catalog, synthetic.SequenceConfig())
  index = {it.item_id: i for i, it in enumerate(catalog.items)}
  colours = catalog.users["affinity"]["colour"]
  n_colour = colours.shape[1]
  hits = total = 0
  for u, (_, seq) in enumerate(catalog.sequences):
    if len(seq) < 15:
      continue
    mixture, affinity = process.inferred_taste([index[i] for i in seq])
    assert mixture.shape == (24,) and mixture.sum() == pytest.approx(1.0)
    hits += int(np.argmax(affinity[:n_colour]) == np.argmax(colours[u]))
    total += 1
  # Ten colours: a guess is right 10-25 % of the time (prior mode); the posterior far more.
  assert total > 30 and hits / total > 0.6
  _, text_only = process.inferred_taste([index[i] for i in catalog.sequences[0][1]],
                                        factors=("style", "audience", "price_tier"))
  n_hidden = n_colour + catalog.users["affinity"]["pattern"].shape[1]
  assert np.all(text_only[:n_hidden] == 0) and np.any(text_only[n_hidden:] != 0)


def test_a_taste_inferred_from_the_history_lies_between_the_ceilings(catalog):
  examples = _last_item_examples(catalog)
  r = {m: ceiling.ceiling_hr(catalog, examples, m, samples=128) for m in ceiling.MODES}
  for m in ("history", "history_text"):
    assert r["markov"]["HR@10"] <= r[m]["HR@10"] <= r["full"]["HR@10"]
  # The history reveals part of the taste: far more first-place hits than without it.
  assert r["history"]["HR@1"] - r["markov"]["HR@1"] > 2 * r["history"]["HR@1_se"]


def test_a_catalog_without_latents_is_refused(catalog):
  import dataclasses
  with pytest.raises(ValueError, match="user latents"):
    ceiling.ceiling_hr(dataclasses.replace(catalog, users={}), [], "full")
  with pytest.raises(ValueError, match="mode"):
    ceiling.next_item_probs(ceiling.NextItemProcess(catalog, synthetic.SequenceConfig()), 0, [1, 2],
                            "oracle", np.random.default_rng(0))


def test_cli_regenerates_a_prepared_dataset_and_prints_both_ceilings(tmp_path, capsys):
  import argparse
  from gr_jax.data import prepare
  data = str(tmp_path / "data")
  parser = argparse.ArgumentParser()
  prepare.add_arguments(parser)
  prepare.main(parser.parse_args(["--source", "synthetic", "--out", data, "--items", "120",
                                  "--users", "200", "--seed", "1", "--image_size", "0", "--quiet"]))
  result = ceiling.ceiling_for_dataset(data, "test", max_users=50, samples=64)
  assert result["full"]["n"] == result["markov"]["n"] == 50
  assert result["full"]["HR@10"] >= result["markov"]["HR@10"]
  out_json = str(tmp_path / "ceiling.json")
  assert ceiling.main(["--data", data, "--max_users", "50", "--samples", "64",
                       "--modes", "full,markov", "--json", out_json]) == 0
  out = capsys.readouterr().out
  assert "full" in out and "markov" in out and "HR@10" in out and "history" not in out
  from gr_jax import io_utils
  written = io_utils.read_json(out_json)
  assert written["split"] == "test" and set(written["ceilings"]) == {"full", "markov"}
  assert written["ceilings"]["full"] == result["full"]  # Same users, samples and seed.
  with pytest.raises(SystemExit):
    ceiling.main(["--data", data, "--modes", "full,oracle"])


def test_the_transition_table_matches_the_generators_category_draws():
  # Count every (previous category -> next category) step of a generated catalog and compare
  # with what the table predicts for those steps: transition[prev] + mixture_share * mixture,
  # except the p_random_item share, which lands in a category by its share of the items.
  big = synthetic.generate(1000, 3000, seed=5, image_dir=None, progress=False)
  cfg = synthetic.SequenceConfig()
  process = ceiling.NextItemProcess(big, cfg)
  index = {it.item_id: i for i, it in enumerate(big.items)}
  item_share = np.bincount(process.category, minlength=process.n_cat) / process.n_items
  observed = np.zeros((process.n_cat, process.n_cat))
  expected = np.zeros_like(observed)
  for u, (_, seq) in enumerate(big.sequences):
    cats = process.category[[index[i] for i in seq]]
    np.add.at(observed, (cats[:-1], cats[1:]), 1)
    p = process.transition[cats[:-1]] + process.mixture_share * process.mixture[u]
    np.add.at(expected, cats[:-1], (1 - cfg.p_random_item) * p + cfg.p_random_item * item_share)
  np.testing.assert_allclose(process.transition.sum(1) + process.mixture_share, 1.0)
  assert observed.sum() == pytest.approx(expected.sum())
  # Repeat and complement cells carry most of the mass: each within 5 Poisson s.e.
  rows = np.arange(process.n_cat)
  for cols in (rows, process.comp[:, 0], process.comp[:, 1]):
    o, e = observed[rows, cols], expected[rows, cols]
    assert np.all(np.abs(o - e) < 5 * np.sqrt(e) + 1), (o, e)
