"""Tests of gr_jax.baselines.collab and collaborative semantic IDs (TokenizerConfig.collaborative)."""

import json
import os

import gin
import numpy as np
import pytest

from gr_jax.baselines import collab
from gr_jax.data import layout
from gr_jax.data import schema
from gr_jax.rqvae import stage
from gr_jax.rqvae.config import TokenizerConfig
from gr_jax.runs import ablate
from gr_jax.runs import pipeline
from gr_jax_tasks import testing

CFG = dict(epochs=2, hidden=8, max_len=8, num_blocks=1, dropout=0.0, batch_size=16)


@pytest.fixture(autouse=True)
def _clear_gin():
  yield
  gin.clear_config()


def _dataset(path):
  d = str(path)
  os.makedirs(d, exist_ok=True)
  testing.make_dataset(d, n_users=12, seq_len=(5, 8))
  return d


def _rewrite_targets(data_dir, split, items):
  """Points every example of `split` at another item (a different valid/test target)."""
  path = schema.split_path(data_dir, split)
  rows = [json.loads(line) for line in open(path)]
  for n, row in enumerate(rows):
    row["target"] = items[(n * 5 + 3) % len(items)]
  with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)


def test_embeddings_ignore_valid_and_test_targets(tmp_path):
  """The leakage rule: SASRec for the embeddings sees only splits/train.jsonl."""
  d = _dataset(tmp_path / "ds")
  ids, before, _ = collab.collab_embeddings(d, collab.collab_config(**CFG), progress=False)
  assert before.shape == (len(ids), 8) and ids == list(schema.load_items(d))
  for split in ("valid", "test"):
    _rewrite_targets(d, split, ids)
  _, after, _ = collab.collab_embeddings(d, collab.collab_config(**CFG), progress=False)
  np.testing.assert_array_equal(before, after)
  # Whereas a change to the train split does change them (the test can fail).
  path = schema.split_path(d, "train")
  rows = [json.loads(line) for line in open(path)]
  rows[0]["target"] = ids[-1]
  with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)
  _, changed, _ = collab.collab_embeddings(d, collab.collab_config(**CFG), progress=False)
  assert not np.array_equal(before, changed)


def _write_text_embeddings(d, ids):
  emb = os.path.join(d, layout.EMBEDDINGS_DIR)
  os.makedirs(emb, exist_ok=True)
  x = np.random.default_rng(0).standard_normal((len(ids), 12)).astype(np.float32)
  np.save(os.path.join(emb, "text.npy"), x)
  with open(os.path.join(emb, layout.EMBED_IDS), "w") as f:
    f.writelines(f"{i}\n" for i in ids)


def _tok_cfg(**kw):
  base = dict(run="tc", modalities=("text",), codebook_sizes=(4, 4), latent_dim=4,
              encoder_widths=(16,), epochs=3, batch_size=16, kmeans_iters=3, dead_code_every=0,
              checkpoint_every=100, collaborative="concat")
  base.update(kw)
  return TokenizerConfig(**base)


def test_collaborative_sids_are_deterministic_and_use_the_signal(tmp_path):
  d = _dataset(tmp_path / "ds")
  ids = list(schema.load_items(d))
  _write_text_embeddings(d, ids)
  with pytest.raises(FileNotFoundError, match="collab-embed"):
    stage.tokenize(d, _tok_cfg(), progress=False)
  info = collab.write_collab(d, collab.collab_config(**CFG), progress=False)
  assert info["shape"] == [len(ids), 8]
  assert collab.write_collab(d, collab.collab_config(**CFG), progress=False) == info  # Up to date.
  got_ids, data, extra = stage.collaborative_inputs(d, _tok_cfg())
  assert got_ids == ids and data["text"].shape == (len(ids), 12 + 8)
  assert extra["collaborative"] == "concat"
  assert np.mean(np.linalg.norm(data["text"][:, 12:], axis=1)) == pytest.approx(1.0, rel=1e-4)
  _, replaced, _ = stage.collaborative_inputs(d, _tok_cfg(collaborative="replace"))
  np.testing.assert_allclose(replaced["text"], data["text"][:, 12:], rtol=1e-5, atol=1e-6)
  sids = []
  for run in ("a", "b"):
    stage.tokenize(d, _tok_cfg(run=run), progress=False)
    sids.append(json.load(open(layout.sids_path(d, run)))["modalities"]["text"]["sids"])
  assert sids[0] == sids[1]  # Same seed, same SIDs.
  stage.tokenize(d, _tok_cfg(run="content", collaborative="none"), progress=False)
  content = json.load(open(layout.sids_path(d, "content")))["modalities"]["text"]["sids"]
  assert content != sids[0]  # The collaborative block changes the codes.


@pytest.mark.parametrize("method", ["tiger", "macrec", "trialign"])
def test_gin_selects_collaborative_sids_for_every_method(method):
  cfg = stage.config_from_gin([f"rqvae/demo_{method}.gin", "rqvae/collab.gin"], [])
  assert cfg.collaborative == "concat" and cfg.collaborative_weight == 1.0
  gin.clear_config()
  cfg = stage.config_from_gin([f"rqvae/demo_{method}.gin"],
                              ["TokenizerConfig.collaborative='replace'"])
  assert cfg.collaborative == "replace"
  gin.clear_config()
  assert stage.config_from_gin([f"rqvae/demo_{method}.gin"], []).collaborative == "none"
  with pytest.raises(ValueError, match="collaborative"):
    TokenizerConfig(collaborative="late")


def test_ablation_collab_study_rows(tmp_path):
  plan = ablate.plan_ablation(str(tmp_path / "data"), str(tmp_path / "out"), ["collab"],
                              pipeline.PROFILES["quick"])
  names = [s.name for s in plan.stages]
  assert names[0] == "collab-embed"
  for method in ("tiger", "macrec", "trialign"):
    tok = next(s for s in plan.stages if s.name == f"tokenize:{method}_collab")
    assert "--gin.TokenizerConfig.collaborative='concat'" in tok.argv
    assert names.index("collab-embed") < names.index(f"tokenize:{method}_collab")
  runs = {v["name"]: v["tokenizer_run"] for v in plan.variants}
  assert runs == {"tiger_content": "tiger", "tiger_collab": "tiger_collab",
                  "macrec_content": "macrec", "macrec_collab": "macrec_collab",
                  "trialign_content": "trialign", "trialign_collab": "trialign_collab"}
