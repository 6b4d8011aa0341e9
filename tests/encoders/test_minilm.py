"""Flax all-MiniLM-L6-v2 vs the torch reference, plus batching invariants."""

import json
import os

import numpy as np
import pytest

from gr_jax.encoders import minilm

HERE = os.path.join(os.path.dirname(__file__), "testdata")


@pytest.fixture(scope="module")
def encoder():
  return minilm.get_encoder()


def test_matches_torch_reference(encoder):
  with open(os.path.join(HERE, "minilm_reference_texts.json"), encoding="utf-8") as f:
    texts = json.load(f)
  ref = np.load(os.path.join(HERE, "minilm_reference.npy"))
  out = encoder.encode(texts)
  assert out.shape == ref.shape == (len(texts), 384) and out.dtype == np.float32
  cos = (out * ref).sum(1) / np.linalg.norm(out, axis=1) / np.linalg.norm(ref, axis=1)
  assert cos.min() > 0.999, cos
  np.testing.assert_allclose(out, ref, atol=2e-4)


def test_unit_norm_and_batch_invariance(encoder):
  texts = ["short", "a somewhat longer sentence about a blue kettle", "x " * 300, ""] * 3
  together = encoder.encode(texts)
  np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
  alone = np.concatenate([encoder.encode([t]) for t in texts[:4]])
  np.testing.assert_allclose(together[:4], alone, atol=1e-5)
  np.testing.assert_allclose(together[:4], together[4:8], atol=1e-6)


def test_truncation_to_max_tokens(encoder):
  ids = encoder.tokenize(["word " * 1000])[0]
  assert len(ids) == encoder.max_tokens == 256
  assert ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP]


def test_semantics_sane(encoder):
  a, b, c = encoder.encode(["a ceramic coffee mug", "a porcelain tea cup", "a lawn mower"])
  assert a @ b > a @ c + 0.2


def test_identity_is_cheap_and_stable():
  ident = minilm.identity()
  assert ident["encoder"] == "minilm-l6-v2" and len(ident["weights_sha256"]) == 64
  assert ident == minilm.get_encoder().identity()
