"""`gr-jax tokenize` end to end on a tiny embeddings dir: contract files, errors, rerun."""

import json
import os

import gin
import numpy as np
import pytest

from gr_jax import cli
from gr_jax import io_utils
from gr_jax.data import sids
from gr_jax.rqvae import stage
from gr_jax.rqvae.config import TokenizerConfig
from gr_jax_tasks import testing

N = 96


def _write_embeddings(root, n=N, dims=(("text", 12), ("image", 12), ("fused", 16)), seed=0):
  emb = os.path.join(root, "embeddings")
  os.makedirs(emb, exist_ok=True)
  rng = np.random.default_rng(seed)
  for m, d in dims:
    x = rng.standard_normal((n, d)).astype(np.float32)
    np.save(os.path.join(emb, f"{m}.npy"), x / np.linalg.norm(x, axis=1, keepdims=True))
  with open(os.path.join(emb, "ids.txt"), "w") as f:
    f.writelines(f"item{i}\n" for i in range(n))
  testing.mark_prepared(str(root))
  return str(root)


def _cfg(**kw):
  base = dict(run="tiny", modalities=("text", "image"), dual=True, codebook_sizes=(4, 4, 4),
              latent_dim=4, encoder_widths=(16,), epochs=3, batch_size=32, kmeans_iters=3,
              pseudo_label_k=8, con_weights=(0.0, 0.1, 0.1), dead_code_every=0,
              checkpoint_every=4)
  base.update(kw)
  return TokenizerConfig(**base)


@pytest.fixture(autouse=True)
def _clear_gin():
  yield
  gin.clear_config()


def test_writes_the_contract_files_and_reruns_from_the_checkpoint(tmp_path):
  data = _write_embeddings(tmp_path)
  report = stage.tokenize(data, _cfg(), progress=False)
  out = os.path.join(data, "tokenizer", "tiny")
  doc = sids.load_sids(os.path.join(out, "sids.json"))
  assert doc["run"] == "tiny" and set(doc["modalities"]) == {"text", "image"}
  assert doc["modalities"]["image"]["prefixes"][:3] == ["A", "B", "C"]
  assert doc["modalities"]["text"]["prefixes"][:3] == ["a", "b", "c"]
  assert len(doc["modalities"]["text"]["sids"]) == N
  assert set(sids.read_layout(os.path.join(out, "sids.json"))) == {"text", "image"}
  on_disk = json.load(open(os.path.join(out, "sid_report.json")))
  assert on_disk["run"] == "tiny" and on_disk["train_seconds"] > 0
  for m in ("text", "image"):
    r = on_disk["modalities"][m]
    assert r["collision_rate_before"] > 0  # 96 items, 64 possible 3-level SIDs.
    assert r["collision_rate_after"] == 0.0
    levels = len(r["codebook_sizes"])
    assert levels == len(doc["modalities"][m]["prefixes"])
    assert len(r["codebook_usage"]) == len(r["perplexity"]) == levels
    assert len(r["recon_cosine_by_depth"]) == 3
    assert all(0 < u <= 1 for u in r["codebook_usage"])
    assert all(1 <= p <= k for p, k in zip(r["perplexity"], r["codebook_sizes"]))
  assert report["modalities"].keys() == on_disk["modalities"].keys()
  for png in ("collision_rate.png", "codebook_usage.png", "recon_cosine.png"):
    with open(os.path.join(out, png), "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert json.load(open(os.path.join(out, "config.json")))["status"] == "done"
  first = open(os.path.join(out, "sids.json")).read()
  stage.tokenize(data, _cfg(), progress=False)  # Restores the final checkpoint: same SIDs.
  assert open(os.path.join(out, "sids.json")).read() == first


@pytest.mark.parametrize("breakage,match", [
    ("nan", r"text.npy:8 field 'row 7 \(item 'item7'\)': NaN/inf"),
    ("count", r"95 rows but .*ids.txt has 96 item ids"),
    ("dims", r"expected a \[N, D\] matrix"),
    ("dup", r"ids.txt:4 field 'item_id': duplicate item id 'item1'"),
])
def test_bad_input_is_named(tmp_path, breakage, match):
  data = _write_embeddings(tmp_path)
  emb = os.path.join(data, "embeddings")
  x = np.load(os.path.join(emb, "text.npy"))
  if breakage == "nan":
    x[7, 3] = np.nan
  elif breakage == "count":
    x = x[:-1]
  elif breakage == "dims":
    x = x[:, 0]
  else:
    lines = open(os.path.join(emb, "ids.txt")).read().splitlines()
    lines[3] = "item1"
    open(os.path.join(emb, "ids.txt"), "w").write("\n".join(lines) + "\n")
  np.save(os.path.join(emb, "text.npy"), x)
  with pytest.raises(io_utils.BadInputError, match=match):
    stage.tokenize(data, _cfg(modalities=("text",), dual=False), progress=False)


def test_cli_with_gin_file_bindings_and_seed(tmp_path, capsys):
  data = _write_embeddings(tmp_path)
  rc = cli.main(["tokenize", "--data", data, "--gin_file", "gin/rqvae/demo_tiger.gin",
                 "--gin.TokenizerConfig.codebook_sizes=(4, 4, 4)",
                 "--gin.TokenizerConfig.encoder_widths=(16,)", "--gin.TokenizerConfig.epochs=2",
                 "--gin.TokenizerConfig.batch_size=32", "--seed", "5", "--run", "cli_run",
                 "--no_progress"])
  assert rc == 0
  out = os.path.join(data, "tokenizer", "cli_run")
  cfg = json.load(open(os.path.join(out, "config.json")))["config"]
  assert cfg["seed"] == 5 and cfg["codebook_sizes"] == [4, 4, 4] and cfg["run"] == "cli_run"
  assert "collisions" in capsys.readouterr().out
  assert sids.load_sids(os.path.join(out, "sids.json"))["modalities"]["text"]["prefixes"][0] == "a"


def test_cli_reports_missing_embeddings(tmp_path, capsys):
  testing.mark_prepared(str(tmp_path))
  rc = cli.main(["tokenize", "--data", str(tmp_path), "--gin_file", "gin/rqvae/demo_tiger.gin"])
  assert rc == 1
  assert "gr-jax embed" in capsys.readouterr().err
