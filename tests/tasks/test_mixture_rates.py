"""Evidence: the TriAlignGR mixture samples its eight tasks uniformly even when sizes differ 100x."""

import collections

import pytest
import seqio

import gr_jax_tasks
from gr_jax_tasks import registry
from gr_jax_tasks import testing

N_SAMPLES = 16_000


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("rates_ds"))
  # ~60 users x ~9 training prefixes vs 5 captioned items: >100x size spread.
  testing.make_dataset(d, n_users=60, seq_len=(10, 14), caption_items=5, interest_items=30)
  return gr_jax_tasks.register_dataset("rates", d, build_vocab=True)


def test_task_sizes_differ_at_least_100x(mixture):
  cfg = registry.dataset_config(mixture)
  sizes = {t: len(registry.examples(cfg, t, "train")) for t in registry.task_names("trialign")}
  assert min(sizes.values()) == 5
  assert max(sizes.values()) >= 100 * min(sizes.values())


def test_empirical_task_frequencies_are_uniform(mixture):
  ds = seqio.get_mixture_or_task(mixture).get_dataset(
      {"inputs": 64, "targets": 16}, split="train", seed=1234, passthrough_features=["task"])
  counts = collections.Counter(r["task"].decode() for r in ds.take(N_SAMPLES).as_numpy_iterator())
  assert sum(counts.values()) == N_SAMPLES and len(counts) == 8
  freqs = {t: c / N_SAMPLES for t, c in counts.items()}
  print("task frequencies over", N_SAMPLES, "examples:", {t: round(f, 4) for t, f in sorted(freqs.items())})
  for task, freq in freqs.items():
    assert abs(freq - 1 / 8) < 0.02, (task, freq)
