"""MACRec terms: InfoNCE values against numpy, and cross-modal agreement gained in training."""

import jax.numpy as jnp
import numpy as np
import pytest

from gr_jax.rqvae import kmeans
from gr_jax.rqvae import macrec
from gr_jax.rqvae import trainer
from gr_jax.rqvae.config import TokenizerConfig


def _np_supcon(r, labels, tau, cosine):
  if cosine:
    r = r / np.linalg.norm(r, axis=1, keepdims=True)
  s = r @ r.T / tau
  losses = []
  for i in range(len(r)):
    others = [j for j in range(len(r)) if j != i]
    lse = np.log(np.sum(np.exp(s[i, others])))
    pos = [j for j in others if labels[j] == labels[i]]
    if pos:
      losses.append(np.mean([lse - s[i, j] for j in pos]))
  return np.mean(losses)


@pytest.mark.parametrize("cosine", [True, False])
def test_pseudo_label_infonce_matches_numpy(cosine):
  rng = np.random.default_rng(0)
  r = rng.standard_normal((12, 5)).astype(np.float32) * 0.5
  labels = np.array([0, 0, 1, 1, 1, 2, 3, 3, 4, 0, 5, 6])
  got = macrec.pseudo_label_infonce(jnp.asarray(r), jnp.asarray(labels), 0.1, cosine=cosine)
  np.testing.assert_allclose(float(got), _np_supcon(r, labels, 0.1, cosine), rtol=1e-4)


def test_paired_infonce_matches_numpy():
  rng = np.random.default_rng(1)
  a, b = rng.standard_normal((2, 6, 4)).astype(np.float32)
  s = a @ b.T / 0.5
  want = sum(np.mean([np.log(np.exp(m[i]).sum()) - m[i, i] for i in range(6)]) for m in (s, s.T))
  got = macrec.paired_infonce(jnp.asarray(a), jnp.asarray(b), 0.5)
  np.testing.assert_allclose(float(got), want, rtol=1e-4)


def test_disagreement():
  assert macrec.disagreement(np.array([1, 1, 2, 2]), np.array([0, 0, 1, 1])) == 0.0
  assert macrec.disagreement(np.array([1, 2, 3, 4]), np.array([0, 0, 1, 1])) == 1.0


def paired_catalogue(n=512, seed=0):
  """Text and image views share a coarse factor; each also has a private factor."""
  rng = np.random.default_rng(seed)
  shared = rng.integers(0, 16, n)
  out = {}
  for m, d in (("text", 24), ("image", 16)):
    s_emb = rng.standard_normal((16, d))
    private = rng.integers(0, 8, n)
    p_emb = rng.standard_normal((8, d)) * 1.2
    x = s_emb[shared] + p_emb[private] + 0.2 * rng.standard_normal((n, d))
    out[m] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
  return out


def _level_disagreement(con_weights, align_weight, data, pseudo):
  cfg = TokenizerConfig(run="m", modalities=("text", "image"), dual=True,
                        codebook_sizes=(8, 8, 8, 8), latent_dim=8, encoder_widths=(32,),
                        epochs=40, batch_size=128, learning_rate=3e-3, kmeans_iters=5,
                        dead_code_every=0, pseudo_label_k=16, con_weights=con_weights,
                        align_weight=align_weight, seed=0)
  models, params, _ = trainer.train(cfg, data, None, pseudo_labels=pseudo, progress=False)
  out = []
  for m, other in (("text", "image"), ("image", "text")):
    codes = trainer.encode_codes(models[m], params[m], data[m])["codes"]
    out.append([macrec.disagreement(codes[:, l], pseudo[other]) for l in (2, 3)])
  return np.mean(out)


def test_contrastive_terms_lower_cross_modal_disagreement():
  data = paired_catalogue()
  pseudo = {m: kmeans.pseudo_labels(data[m], 16, seed=0) for m in data}
  with_con = _level_disagreement((0.0, 0.0, 0.1, 0.1), 0.001, data, pseudo)
  without = _level_disagreement((0.0, 0.0, 0.0, 0.0), 0.0, data, pseudo)
  assert with_con < without - 0.05, (with_con, without)


def test_gradients_are_finite_for_zero_residuals():
  import jax  # pylint: disable=g-import-not-at-top
  r = jnp.zeros((4, 3)).at[0].set(1.0)
  g = jax.grad(lambda r: macrec.pseudo_label_infonce(r, jnp.array([0, 0, 1, 1]), 0.1, cosine=True)
               + macrec.paired_infonce(r, r[::-1], 0.1, cosine=True))(r)
  assert np.isfinite(np.asarray(g)).all()
