"""Tests for importing precomputed .npy embeddings with id lists."""

import json

import numpy as np
import pytest

from gr_jax import io_utils
from gr_jax.embed import precomputed

IDS = ["a", "b", "c"]


@pytest.fixture
def npy(tmp_path):
  arr = np.array([[1, 0], [0, 2], [3, 4], [5, 0]], np.float32)  # Row r encodes r.
  path = tmp_path / "emb.npy"
  np.save(path, arr)
  return str(path), arr


def _rowof(out):
  return [tuple(np.round(r, 3)) for r in out]


def test_id_list_formats(tmp_path, npy):
  path, arr = npy
  expected = precomputed.fusion.normalize(arr[[0, 3, 2]])
  (tmp_path / "map.tsv").write_text("a\t0\nb\t3\nc\t2\n")
  (tmp_path / "list.json").write_text(json.dumps(["c", "a", "zz", "b"]))
  (tmp_path / "map.json").write_text(json.dumps({"a": 0, "b": 3, "c": 2}))
  out, ok, rep = precomputed.load(path, IDS, str(tmp_path / "map.tsv"))
  np.testing.assert_allclose(out, expected, atol=1e-6)
  assert ok.all() and rep["missing"] == 0 and rep["dim"] == 2
  out, _, _ = precomputed.load(path, IDS, str(tmp_path / "map.json"))
  np.testing.assert_allclose(out, expected, atol=1e-6)
  out, _, rep = precomputed.load(path, IDS, str(tmp_path / "list.json"))
  np.testing.assert_allclose(out, precomputed.fusion.normalize(arr[[1, 3, 0]]), atol=1e-6)
  assert rep["extra_ids_ignored"] == 1


def test_index_mode_and_item_order(npy):
  path, arr = npy
  out, ok, rep = precomputed.load(path, ["3", "0"], "index")
  np.testing.assert_allclose(out, precomputed.fusion.normalize(arr[[3, 0]]), atol=1e-6)
  out, _, _ = precomputed.load(path, ["w", "x", "y", "z"], None)
  np.testing.assert_allclose(out, precomputed.fusion.normalize(arr), atol=1e-6)
  with pytest.raises(io_utils.BadInputError, match="4 rows but the catalog has 3 items"):
    precomputed.load(path, IDS, None)


def test_missing_items_error_or_counted_fallback(tmp_path, npy):
  path, arr = npy
  (tmp_path / "m.tsv").write_text("a\t0\nc\t2\n")
  with pytest.raises(io_utils.BadInputError, match=r"1 of 3 catalog items have no row .*'b'"):
    precomputed.load(path, IDS, str(tmp_path / "m.tsv"))
  out, ok, rep = precomputed.load(path, IDS, str(tmp_path / "m.tsv"), allow_missing=True)
  assert ok.tolist() == [True, False, True] and rep["missing"] == 1
  assert rep["missing_examples"] == ["b"] and rep["fallback"]
  mean = precomputed.fusion.normalize(out[[0, 2]].mean(0, keepdims=True))[0]
  np.testing.assert_allclose(out[1], mean, atol=1e-6)


def test_bad_inputs(tmp_path, npy):
  path, _ = npy
  (tmp_path / "dup.txt").write_text("a\nb\na\nc\n")
  with pytest.raises(io_utils.BadInputError, match=r"dup.txt:3 field 'item_id': duplicate id 'a'"):
    precomputed.load(path, IDS, str(tmp_path / "dup.txt"))
  (tmp_path / "short.txt").write_text("a\nb\nc\n")
  with pytest.raises(io_utils.BadInputError, match="3 ids for 4 rows"):
    precomputed.load(path, IDS, str(tmp_path / "short.txt"))
  (tmp_path / "oob.tsv").write_text("a\t0\nb\t9\nc\t1\n")
  with pytest.raises(io_utils.BadInputError, match="row 9 out of range"):
    precomputed.load(path, IDS, str(tmp_path / "oob.tsv"))
  (tmp_path / "badrow.tsv").write_text("a\t0\nb\tone\n")
  with pytest.raises(io_utils.BadInputError, match=r"badrow.tsv:2 field 'row'"):
    precomputed.load(path, IDS, str(tmp_path / "badrow.tsv"))
  nan = tmp_path / "nan.npy"
  np.save(nan, np.array([[1, 0], [np.nan, 1], [1, 1]], np.float32))
  with pytest.raises(io_utils.BadInputError, match=r"row 1.*non-finite"):
    precomputed.load(str(nan), IDS, None)
  flat = tmp_path / "flat.npy"
  np.save(flat, np.zeros(3, np.float32))
  with pytest.raises(io_utils.BadInputError, match="2-D"):
    precomputed.load(str(flat), IDS, None)
  with pytest.raises(io_utils.BadInputError, match="cannot read"):
    (tmp_path / "junk.npy").write_bytes(b"nope")
    precomputed.load(str(tmp_path / "junk.npy"), IDS, None)


def test_zero_rows_get_fallback(tmp_path):
  path = tmp_path / "z.npy"
  np.save(path, np.array([[1, 0], [0, 0], [0, 1]], np.float32))
  out, ok, rep = precomputed.load(str(path), IDS, None)
  assert ok.tolist() == [True, False, True] and rep["zero_rows"] == 1
  np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, atol=1e-6)
