"""RQ-VAE training on clustered synthetic embeddings: level-1 purity, recon vs depth, resume."""

import numpy as np
import pytest

from gr_jax.rqvae import trainer
from gr_jax.rqvae.config import TokenizerConfig

# Level-1 codes (16 codes, 8 true clusters) must recover the clusters: each code's items come
# from one true cluster for >= 90% of the items (purity; over-segmentation is allowed).
PURITY_THRESHOLD = 0.9


def clustered(n=512, k=8, d=32, seed=0):
  """Unit-norm embeddings: k well separated centres + sub-cluster offsets + small noise."""
  rng = np.random.default_rng(seed)
  centres = rng.standard_normal((k, d)) * 1.0
  subs = rng.standard_normal((k, 4, d)) * 0.35
  labels = rng.integers(0, k, n)
  sub = rng.integers(0, 4, n)
  x = centres[labels] + subs[labels, sub] + 0.05 * rng.standard_normal((n, d))
  x /= np.linalg.norm(x, axis=1, keepdims=True)
  return x.astype(np.float32), labels


def small_config(**kw):
  base = dict(run="t", modalities=("text",), codebook_sizes=(8, 8, 8), latent_dim=8,
              encoder_widths=(32,), epochs=50, batch_size=128, learning_rate=3e-3,
              kmeans_iters=10, dead_code_every=50, checkpoint_every=1000, seed=0)
  base.update(kw)
  return TokenizerConfig(**base)


def purity(pred, labels):
  return sum(np.bincount(labels[pred == c]).max() for c in np.unique(pred)) / len(labels)


@pytest.fixture(scope="module")
def trained():
  x, labels = clustered()
  cfg = small_config(codebook_sizes=(16, 8, 8))
  models, params, history = trainer.train(cfg, {"text": x}, None, progress=False)
  return cfg, x, labels, models, params, history


def test_level1_codes_recover_the_clusters(trained):
  _, x, labels, models, params, _ = trained
  codes = trainer.encode_codes(models["text"], params["text"], x)["codes"]
  assert codes.shape == (len(x), 3)
  assert purity(codes[:, 0], labels) >= PURITY_THRESHOLD


def test_recon_cosine_rises_with_depth(trained):
  _, x, _, models, params, history = trained
  cos = trainer.recon_cosine_by_depth(models["text"], params["text"], x)
  assert cos.shape == (3,)
  assert np.all(np.diff(cos) > 0), cos
  assert cos[-1] > 0.9, cos
  assert history[-1]["loss"] < history[0]["loss"]


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path):
  x, _ = clustered(n=256)
  cfg = small_config(epochs=10, checkpoint_every=7, dead_code_every=5, ema=True)
  _, full, _ = trainer.train(cfg, {"text": x}, None, progress=False)
  ckpt = str(tmp_path / "ckpt")
  trainer.train(cfg, {"text": x}, ckpt, progress=False, max_new_steps=9)
  logs = []
  _, resumed, _ = trainer.train(cfg, {"text": x}, ckpt, progress=False, log=logs.append)
  assert any("step 9/" in m for m in logs), logs
  for a, b in zip(np.asarray(full["text"]["quantizer"]["codebook_2"]).ravel(),
                  np.asarray(resumed["text"]["quantizer"]["codebook_2"]).ravel()):
    assert a == pytest.approx(b, abs=1e-5)
  np.testing.assert_allclose(np.asarray(full["text"]["encoder"]["dense_0"]["kernel"]),
                             np.asarray(resumed["text"]["encoder"]["dense_0"]["kernel"]), atol=1e-5)


def test_same_seed_same_codes_other_seed_differs():
  x, _ = clustered(n=256)
  runs = []
  for seed in (3, 3, 4):
    cfg = small_config(epochs=4, seed=seed)
    models, params, _ = trainer.train(cfg, {"text": x}, None, progress=False)
    runs.append(trainer.encode_codes(models["text"], params["text"], x)["codes"])
  np.testing.assert_array_equal(runs[0], runs[1])
  assert not np.array_equal(runs[0], runs[2])


def test_dead_codes_are_restarted():
  x, _ = clustered(n=256, k=2)  # Two tight clusters: most level-1 codes start unused.
  cfg = small_config(codebook_sizes=(16, 8, 8), epochs=2, dead_code_every=2, dead_code_stop=1.0,
                     kmeans_init=False)
  _, _, history = trainer.train(cfg, {"text": x}, None, progress=False)
  restarts = [h["restarted"]["text"] for h in history if "restarted" in h]
  assert restarts and restarts[0] > 0
