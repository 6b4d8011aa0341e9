"""Parity of gr_jax's RQ-VAE trainer with the PyTorch reference (peers' recipe), fast version."""

import os

import pytest

from gr_jax.parity import data
from gr_jax.parity import rqvae

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def vectors(shared_data_dir):
  ds = data.load_dataset(os.path.join(shared_data_dir, "Scientific"))
  return data.lsa_vectors(ds.texts[:1500], dim=32, buckets=2048)


def tiny_config(steps=50):
  return rqvae.parity_config(steps=steps, codebook_sizes=(16, 16, 16), latent_dim=8,
                             encoder_widths=(32, 16), batch_size=256, kmeans_iters=10)


def test_rqvae_parity_50_steps_float64(vectors):
  torch.set_num_threads(1)
  result = rqvae.run(vectors, tiny_config(), precision="float64")
  s = result.summary()
  assert rqvae.check(s, loss_tol=1e-6, min_equal_codes=1.0) is None, s
  assert s["kmeans_rel_diff"] < 1e-5
  assert s["last_loss"] < s["first_loss"]


def test_rqvae_parity_first_steps_float32(vectors):
  # float32: equal until rounding noise, amplified by Adam and the nearest-code choices,
  # grows (see README); the first steps must agree to float32 accuracy.
  result = rqvae.run(vectors, tiny_config(steps=5), precision="float32")
  assert result.loss_rel_diff.max() < 1e-5, result.summary()


def test_peer_bindings_change_the_loss(vectors):
  # gr_jax's default (sum over dims and levels, SiLU, one straight-through) is another loss.
  cfg = tiny_config(steps=1)
  assert cfg.activation == "relu" and cfg.loss_reduction == "mean"
  default = rqvae.TokenizerConfig.from_json({**cfg.to_json(), "activation": "silu",
                                            "loss_reduction": "sum",
                                            "straight_through": "output"})
  a = rqvae.run(vectors, cfg, precision="float64").losses_jax[0]
  b = rqvae.run(vectors, default, precision="float64").losses_jax[0]
  assert b > 5 * a
