"""End-to-end tests of `gr-jax embed`: contract files, fallbacks, resume, CLI."""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import argparse

from gr_jax import io_utils
from gr_jax.embed import embedder, stage, texts
from gr_jax.encoders import efficientnet_lite


def _append_items(data_dir, records):
  with open(os.path.join(data_dir, "items.jsonl"), "a", encoding="utf-8") as f:
    for r in records:
      f.write(json.dumps({"description": "", "brand": "", "categories": [], **r}) + "\n")


def _add_bad_items(data_dir):
  (open(os.path.join(data_dir, "images", "corrupt.png"), "wb")).write(b"\x89PNG garbage")
  _append_items(data_dir, [
      {"item_id": "no_img", "title": "Plain kettle", "image": None},
      {"item_id": "remote", "title": "Remote lamp", "image": "https://example.com/x.jpg"},
      {"item_id": "missing", "title": "Lost speaker", "image": "images/nope.png"},
      {"item_id": "corrupt", "title": "Broken trowel", "image": "images/corrupt.png"},
      {"item_id": "brand_only", "title": "", "brand": "Acme", "categories": ["garden"],
       "image": "images/item000.png"},
      {"item_id": "empty", "title": "", "image": "images/item001.png"},
  ])


def _fake_enrichment(monkeypatch, caps, tags):
  monkeypatch.setattr(texts.enrich, "load_captions", lambda d: dict(caps))
  monkeypatch.setattr(texts.enrich, "load_interests", lambda d: dict(tags))


def test_contract_files_and_fallbacks(catalog):
  data_dir, _ = catalog
  _add_bad_items(data_dir)
  report = stage.run(data_dir, stage.EmbedConfig())
  out = os.path.join(data_dir, "embeddings")
  with open(os.path.join(out, "ids.txt")) as f:
    ids = f.read().split("\n")[:-1]
  with open(os.path.join(data_dir, "items.jsonl")) as f:
    assert ids == [json.loads(line)["item_id"] for line in f]
  n = len(ids)
  shapes = {"text": (n, 384), "image": (n, 1280), "fused": (n, 384 + 1280),
            "text_enriched": (n, 384)}
  for name, shape in shapes.items():
    arr = np.load(os.path.join(out, f"{name}.npy"))
    assert arr.shape == shape and arr.dtype == np.float32, name
    np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1, atol=1e-5, err_msg=name)
  valid = np.load(os.path.join(out, "image_valid.npy"))
  bad = [ids.index(k) for k in ("no_img", "remote", "missing", "corrupt")]
  assert valid.sum() == n - 4 and not valid[bad].any()
  image = np.load(os.path.join(out, "image.npy"))
  np.testing.assert_allclose(image[bad[0]], image[bad[3]])  # Same fallback (mean) row.
  fused = np.load(os.path.join(out, "fused.npy"))
  np.testing.assert_allclose(fused[bad][:, 384:], 0)  # Text only for items without an image.
  img = report["image"]
  assert img["ok"] == n - 4
  assert img["failed"] == {"no_image": 1, "remote_not_fetched": 1, "missing_file": 1,
                           "unreadable": 1}
  assert img["failed_examples"]["missing_file"] == ["missing"]
  assert "mean" in img["policy"]
  assert report["text"]["empty_text_fallback_to_brand_categories"] == 1
  assert report["text"]["empty_text_no_fallback"] == 1
  assert report["fused"]["text_only_rows"] == 4
  with open(os.path.join(out, "report.json")) as f:
    assert json.load(f)["image"]["failed"]["unreadable"] == 1


def test_resume_recomputes_only_what_changed(catalog, monkeypatch):
  data_dir, _ = catalog
  out = os.path.join(data_dir, "embeddings")
  stage.run(data_dir, stage.EmbedConfig())
  first = {m: np.load(os.path.join(out, f"{m}.npy")) for m in ("text", "image", "fused")}
  report = stage.run(data_dir, stage.EmbedConfig())
  assert all(report[m]["skipped"] for m in ("text", "text_enriched", "image", "fused"))
  assert report["image"]["ok"] == 64  # Previous report section carried over.

  _fake_enrichment(monkeypatch, {"item000": "a bright red circle on white"},
                   {"item000": ["home barista"], "item001": ["weekend gardener"]})
  report = stage.run(data_dir, stage.EmbedConfig())
  assert report["text"]["skipped"] and report["image"]["skipped"]
  assert not report["text_enriched"]["skipped"] and not report["fused"]["skipped"]
  assert report["text_enriched"]["items_with_caption"] == 1
  assert report["text_enriched"]["items_with_interests"] == 2
  fused = np.load(os.path.join(out, "fused.npy"))
  assert fused[0] @ first["fused"][0] < 0.999 and np.allclose(fused[5], first["fused"][5],
                                                              atol=0.05)
  report = stage.run(data_dir, stage.EmbedConfig(text_weight=0.8))
  assert [report[m]["skipped"] for m in ("text", "text_enriched", "image", "fused")] == [
      True, True, True, False]
  report = stage.run(data_dir, stage.EmbedConfig(text_weight=0.8, captions=False,
                                                 interests=False))
  assert not report["text_enriched"]["skipped"] and "reuses text.npy" in report[
      "text_enriched"]["note"]

  Image.new("RGB", (64, 64), (0, 0, 0)).save(os.path.join(data_dir, "images", "item003.png"))
  report = stage.run(data_dir, stage.EmbedConfig(text_weight=0.8, captions=False,
                                                 interests=False))
  assert not report["image"]["skipped"] and report["text"]["skipped"]
  image = np.load(os.path.join(out, "image.npy"))
  assert image[3] @ first["image"][3] < 0.99 and np.allclose(image[4], first["image"][4])


def test_killed_run_resumes_to_identical_files(tmp_path, monkeypatch, catalog_factory):
  make_catalog = catalog_factory
  a, b = str(tmp_path / "a"), str(tmp_path / "b")
  make_catalog(a)
  make_catalog(b)
  stage.run(a, stage.EmbedConfig())

  def killed(*args, **kwargs):
    raise KeyboardInterrupt
  enc = efficientnet_lite.get_encoder(128, 32)
  monkeypatch.setattr(enc, "encode_paths", killed)
  with pytest.raises(KeyboardInterrupt):
    stage.run(b, stage.EmbedConfig())
  out_b = os.path.join(b, "embeddings")
  assert os.path.exists(os.path.join(out_b, "text.npy"))
  assert not os.path.exists(os.path.join(out_b, "image.npy"))
  assert not [f for f in os.listdir(out_b) if f.endswith(".tmp")]  # No half-written files.
  monkeypatch.undo()
  report = stage.run(b, stage.EmbedConfig())
  assert report["text"]["skipped"] and not report["image"]["skipped"]
  for name in ("ids.txt", "text.npy", "image.npy", "image_valid.npy", "fused.npy"):
    with open(os.path.join(a, "embeddings", name), "rb") as fa, \
        open(os.path.join(out_b, name), "rb") as fb:
      assert fa.read() == fb.read(), name


def test_policies_that_stop_the_run(catalog):
  data_dir, _ = catalog
  _add_bad_items(data_dir)
  with pytest.raises(io_utils.BadInputError, match=r"items.jsonl field 'image': 4 items"):
    stage.run(data_dir, stage.EmbedConfig(image_fallback="error"))
  with pytest.raises(io_utils.BadInputError, match=r"field 'title'.*'brand_only'"):
    stage.run(data_dir, stage.EmbedConfig(empty_text="error"))
  _append_items(data_dir, [{"item_id": "item005", "title": "dup", "image": None}])
  with pytest.raises(io_utils.BadInputError, match="duplicate item id 'item005'"):
    stage.run(data_dir, stage.EmbedConfig())


def test_catalog_without_images_and_precomputed_text(tmp_path):
  data_dir = str(tmp_path / "noimg")
  os.makedirs(data_dir)
  _append_items(data_dir, [{"item_id": str(i), "title": f"thing {i}", "image": None}
                           for i in range(5)])
  rows = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
  np.save(tmp_path / "peer.npy", rows[::-1])
  cfg = stage.EmbedConfig(text_backend="precomputed", text_npy=str(tmp_path / "peer.npy"),
                          text_ids=None)
  (tmp_path / "peer_ids.txt").write_text("4\n3\n2\n1\n0\n")
  cfg.text_ids = str(tmp_path / "peer_ids.txt")
  report = stage.run(data_dir, cfg)
  ids, text = stage.load_embeddings(data_dir, "text")
  np.testing.assert_allclose(text, rows / np.linalg.norm(rows, axis=1, keepdims=True), atol=1e-6)
  assert report["image"]["status"].startswith("no usable images")
  assert not os.path.exists(os.path.join(data_dir, "embeddings", "image.npy"))
  _, fused = stage.load_embeddings(data_dir, "fused")
  assert fused.shape == (5, 6)


def _cli(argv):
  parser = argparse.ArgumentParser()
  stage.add_arguments(parser)
  return stage.main(parser.parse_args(argv))


def test_cli(catalog, capsys):
  data_dir, _ = catalog
  assert _cli(["--data", data_dir, "--image_size", "128", "--text_weight", "0.6",
               "--fused_dim", "16"]) == 0
  printed = capsys.readouterr().out
  assert "fused" in printed and "dim=16" in printed
  _, fused = stage.load_embeddings(data_dir, "fused")
  assert fused.shape == (64, 16)
  shutil.rmtree(os.path.join(data_dir, "images"))
  assert _cli(["--data", data_dir, "--image_fallback", "error"]) == 1
  assert "missing_file" in capsys.readouterr().err


def test_reordered_catalog_never_mixes_row_orders(catalog):
  data_dir, _ = catalog
  stage.run(data_dir, stage.EmbedConfig(image_backend="none"))
  ids0, text0 = stage.load_embeddings(data_dir, "text")
  path = os.path.join(data_dir, "items.jsonl")
  with open(path) as f:
    lines = f.readlines()
  with open(path, "w") as f:
    f.writelines(lines[::-1])
  pipe = embedder.Embedder(data_dir, stage.EmbedConfig(image_backend="none"))
  assert "text.npy" in pipe.stale_files and "fused.npy" in pipe.stale_files
  report = pipe.run()
  assert not report["text"]["skipped"]
  ids1, text1 = stage.load_embeddings(data_dir, "text")
  assert ids1 == ids0[::-1]
  np.testing.assert_allclose(text1, text0[::-1], atol=1e-5)


def test_nan_written_into_an_up_to_date_file_is_recomputed(catalog):
  # The probe: a NaN written into fused.npy was kept as "up to date" (fingerprint +
  # shape only); the manifest now holds each file's sha256.
  data_dir, _ = catalog
  path = os.path.join(data_dir, "embeddings", "fused.npy")
  stage.run(data_dir, stage.EmbedConfig())
  good = np.load(path)
  bad = good.copy()
  bad[3, 0] = np.nan
  np.save(path, bad)
  report = stage.run(data_dir, stage.EmbedConfig())
  assert report["text"]["skipped"] and not report["fused"]["skipped"]
  np.testing.assert_array_equal(np.load(path), good)
  # A manifest from before the hashes: a non-finite file is still not "up to date".
  manifest_path = os.path.join(data_dir, "embeddings", "manifest.json")
  manifest = json.load(open(manifest_path))
  for entry in manifest["modalities"].values():
    entry.pop("sha256", None)
  json.dump(manifest, open(manifest_path, "w"))
  np.save(path, bad)
  assert not stage.run(data_dir, stage.EmbedConfig())["fused"]["skipped"]
  assert np.isfinite(np.load(path)).all()
