"""Tests for gr_jax.enrich.load_captions / load_interests, the view and caption noise."""

import json
import os

import pytest

from gr_jax import enrich
from gr_jax import io_utils
from gr_jax.enrich import noise


def _write(data_dir, name, records):
  io_utils.atomic_write_jsonl(os.path.join(data_dir, "enrich", name), records)


def test_loaders_keep_ok_records_and_tolerate_partial_last_line(tmp_path):
  d = str(tmp_path)
  _write(d, "captions.jsonl", [
      {"item_id": "a", "caption": "red mug", "status": "ok"},
      {"item_id": "b", "caption": "", "status": "failed"},
      {"item_id": "c", "caption": "legacy record without status"}])
  with open(os.path.join(d, "enrich", "captions.jsonl"), "a") as f:
    f.write('{"item_id": "d", "cap')
  _write(d, "interests.jsonl", [{"item_id": "a", "interests": ["x y", "z w"], "status": "ok"},
                                {"item_id": "b", "interests": [], "status": "failed"}])
  assert enrich.load_captions(d) == {"a": "red mug", "c": "legacy record without status"}
  assert enrich.load_interests(d) == {"a": ["x y", "z w"]}


def test_loaders_on_missing_files_and_bad_fields(tmp_path):
  d = str(tmp_path)
  assert enrich.load_captions(d) == {} and enrich.load_interests(d) == {}
  _write(d, "interests.jsonl", [{"item_id": "a", "interests": "not a list", "status": "ok"}])
  with pytest.raises(io_utils.BadInputError, match=r"interests\.jsonl:1 field 'interests'"):
    enrich.load_interests(d)


def test_view_turns_outputs_off(tmp_path):
  d = str(tmp_path)
  _write(d, "captions.jsonl", [{"item_id": "a", "caption": "red mug", "status": "ok"}])
  _write(d, "interests.jsonl", [{"item_id": "a", "interests": ["x y", "z w"], "status": "ok"}])
  enrich.write_view(d, {"captions": "off", "interests": "off"})
  assert enrich.load_captions(d) == {} and enrich.load_interests(d) == {}
  assert enrich.load_captions(d, respect_view=False) == {"a": "red mug"}
  with open(os.path.join(d, "enrich", "view.json"), "w") as f:
    json.dump({"captions": "maybe"}, f)
  with pytest.raises(io_utils.BadInputError, match="captions"):
    enrich.load_captions(d)


def test_caption_noise_is_exact_deterministic_and_swaps_between_items(tmp_path):
  d = str(tmp_path)
  captions = {f"i{k:02d}": f"caption number {k}" for k in range(40)}
  _write(d, "captions.jsonl", [{"item_id": k, "caption": v, "status": "ok"}
                               for k, v in captions.items()])
  noisy = enrich.load_captions(d, noise=0.25, seed=3)
  changed = [k for k in captions if noisy[k] != captions[k]]
  assert len(changed) == 10 and changed == noise.noisy_ids(list(captions), 0.25, 3)
  assert all(noisy[k] in captions.values() for k in changed)
  assert noisy == enrich.load_captions(d, noise=0.25, seed=3)
  assert noisy != enrich.load_captions(d, noise=0.25, seed=4)
  assert enrich.load_captions(d, noise=0.0) == captions
  full = enrich.load_captions(d, noise=1.0, seed=0)
  assert all(full[k] != captions[k] for k in captions)
  # The persisted view applies the same noise to every reader.
  enrich.write_view(d, {"caption_noise": 0.25, "noise_seed": 3})
  assert enrich.load_captions(d) == noisy
  assert enrich.load_captions(d, noise=0.0) == captions


def test_noise_edge_cases():
  assert noise.swap_captions({"a": "x"}, 1.0, 0) == {"a": "x"}
  one = noise.swap_captions({"a": "x", "b": "y", "c": "z"}, 0.34, 0)
  assert sum(one[k] != v for k, v in {"a": "x", "b": "y", "c": "z"}.items()) == 1
  with pytest.raises(ValueError):
    noise.noisy_ids(["a", "b"], 1.5, 0)
