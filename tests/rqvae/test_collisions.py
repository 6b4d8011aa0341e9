"""Collision rate, nearest-free-code reassignment and the TIGER disambiguation level."""

import numpy as np

from gr_jax.rqvae import collisions


def test_collision_rate():
  codes = np.array([[0, 1], [0, 1], [0, 1], [1, 0]])
  assert collisions.collision_rate(codes) == 1 - 2 / 4
  assert collisions.collision_rate(np.array([[0, 1], [1, 0]])) == 0.0


def test_reassign_moves_the_farther_item_to_its_nearest_free_code():
  # Two items share (0, 0); last codebook has codes at x = 0, 1, 2, 3 (code 1 is taken
  # by another item under the same prefix), so the farther item goes to code 2.
  codes = np.array([[0, 0], [0, 0], [0, 1], [1, 0]])
  cb = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
  res = np.array([[0.1], [1.6], [1.0], [0.0]], np.float32)
  new, unplaced = collisions.reassign_last_level(codes, res, cb)
  assert unplaced.size == 0
  np.testing.assert_array_equal(new, [[0, 0], [0, 2], [0, 1], [1, 0]])
  assert collisions.collision_rate(new) == 0.0


def test_resolve_falls_back_to_an_extra_level_when_a_prefix_is_full():
  codes = np.zeros((5, 2), np.int64)  # 5 items, last codebook of 3 codes: cannot fit.
  cb = np.arange(3, dtype=np.float32)[:, None]
  res = np.linspace(0, 2, 5, dtype=np.float32)[:, None]
  final, extra, info = collisions.resolve(codes, "reassign", res, cb)
  assert info["appended_level"] and extra == 3 and final.shape == (5, 3)
  assert collisions.collision_rate(final) == 0.0


def test_append_level_numbers_groups():
  codes = np.array([[0, 1], [2, 2], [0, 1], [0, 1]])
  final, size = collisions.append_level(codes)
  np.testing.assert_array_equal(final[:, 2], [0, 0, 1, 2])
  assert size == 3 and collisions.collision_rate(final) == 0.0


def test_random_codes_become_unique():
  rng = np.random.default_rng(0)
  codes = rng.integers(0, 4, (500, 3))  # 64 possible SIDs for 500 items: many collisions.
  for strategy in ("reassign", "append"):
    final, _, _ = collisions.resolve(codes, strategy, rng.standard_normal((500, 2)),
                                     rng.standard_normal((4, 2)))
    assert collisions.collision_rate(final) == 0.0
