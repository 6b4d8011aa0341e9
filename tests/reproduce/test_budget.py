"""Paper budgets read from gin/paper/*.gin, and their CPU scaling."""

import pytest

from gr_jax.reproduce import budget


def test_paper_gin_macros():
  m = budget.read_macros(budget.gin_path("macrec", "tiger"))
  assert (m["EPOCHS"], m["BATCH_SIZE"], m["BEAM_SIZE"], m["MAX_HISTORY"], m["SEEDS"]) == (
      200, 1024, 20, 20, 5)
  assert m["TOKENIZE_GIN"] == "rqvae/tiger.gin"
  assert budget.read_macros(budget.gin_path("macrec", "mql4grec"))["EPOCHS"] == 200
  assert budget.read_macros(budget.gin_path("macrec", "sasrec"))["CPU_SCALE"] == 0.1
  assert m["CPU_EXAMPLES"] == 20000 and m["CPU_BATCH_SIZE"] == 64
  tri = budget.read_macros(budget.gin_path("trialign", "trialign"))
  assert tri["FEATURE_LENGTHS"] == {"inputs": 256, "targets": 48}
  assert budget.read_macros(budget.gin_path("macrec", "tiger"), ["EPOCHS=3"])["EPOCHS"] == 3


def test_instruments_tiger_paper_budget():
  # MACRec Instruments (MQL4GRec split): 84,890 training examples, 200 epochs, batch 1024.
  m = budget.read_macros(budget.gin_path("macrec", "tiger"))
  b = budget.plan(m, "paper", budget.examples_per_epoch("tiger", 84890, 6250))
  assert b.train_steps == 16581  # ceil(200 * 84890 / 1024)
  assert b.scale == 1.0 and b.seeds == 5
  assert b.examples_seen == 16581 * 1024
  assert b.warmup_steps == 166
  assert b.curve_steps == [4500, 9000, 13500, 16581]
  assert budget.checkpoint_period(b.curve_steps) == 500


def test_cpu_budget_is_a_fixed_example_count_and_states_the_factor():
  m = budget.read_macros(budget.gin_path("macrec", "tiger"))
  b = budget.plan(m, "cpu", 84890)
  assert b.scale == pytest.approx(20000 / (200 * 84890))
  assert (b.batch_size, b.train_steps) == (64, 313)  # ceil(20000 / 64)
  assert b.epochs == pytest.approx(313 * 64 / 84890)
  assert b.seeds == 1
  fixed = budget.plan(m, "cpu", 84890, train_steps=10)
  assert fixed.scale == pytest.approx(10 * 64 / (200 * 84890))
  sasrec = budget.read_macros(budget.gin_path("macrec", "sasrec"))
  assert budget.plan(sasrec, "cpu", 17112).scale == 0.1
  tri = budget.read_macros(budget.gin_path("trialign", "trialign"))
  assert budget.plan(tri, "cpu", 30000).examples_seen == 10048  # 157 x 64


def test_mixture_epoch_and_feature_lengths():
  assert budget.examples_per_epoch("macrec", 100, 30) == 4 * 100 + 2 * 30
  assert budget.feature_lengths({"MAX_HISTORY": 20}, [4, 5]) == {"inputs": 152, "targets": 7}
  assert budget.curve_points(10, 4) == [3, 6, 9, 10]
  assert budget.checkpoint_period([3, 6, 9, 10]) == 3
  assert budget.curve_points(1, 4) == [1]
  assert budget.curve_points(3, 10) == [1, 2, 3]
  with pytest.raises(ValueError, match="--budget"):
    budget.plan({}, "gpu", 10)


def test_compact_history_feature_lengths():
  """COMPACT_HISTORY inputs hold the SID tokens, a task marker and eos: no prompt, no separators."""
  assert budget.feature_lengths({"MAX_HISTORY": 20, "COMPACT_HISTORY": True}, [4, 5]) == {
      "inputs": 102, "targets": 7}
  macros = budget.read_macros(budget.gin_path("macrec", "tiger"))
  assert macros["COMPACT_HISTORY"] is True  # TIGER's input form (gin/gr_jax/tiger.gin).
  assert not budget.read_macros(budget.gin_path("macrec", "mql4grec"))["COMPACT_HISTORY"]
