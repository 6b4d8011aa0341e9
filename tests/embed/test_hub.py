"""Optional hub backends: imported only when chosen, local files only by default."""

import importlib.util

import numpy as np
import pytest

from gr_jax.embed import hub
from gr_jax.encoders import minilm


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is not None,
                    reason="sentence-transformers is installed")
def test_missing_package_gives_install_hint():
  with pytest.raises(ImportError, match="pip install sentence-transformers"):
    hub.SentenceTransformersEncoder("all-MiniLM-L6-v2")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("transformers") is None
                    or importlib.util.find_spec("torch") is None,
                    reason="needs transformers + torch (the bench extra)")
def test_transformers_backend_matches_flax_minilm():
  texts = ["a red ceramic mug", "wireless headphones with noise cancelling", ""]
  enc = hub.TransformersMeanPoolEncoder(minilm.default_model_dir(), batch_size=2)
  ours = minilm.get_encoder().encode(texts)
  theirs = enc.encode(texts)
  assert theirs.shape == (3, 384) and enc.identity()["encoder"] == "transformers"
  assert np.min((ours * theirs).sum(1)) > 0.999
