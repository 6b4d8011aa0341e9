"""Tests for the torch-free .pth reader."""

import pickle
import struct
import zipfile

import numpy as np
import pytest

from gr_jax import io_utils
from gr_jax.encoders import efficientnet_lite, torch_pickle


def _legacy_header() -> bytes:
  return (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
          + pickle.dumps({"protocol_version": 1001, "little_endian": True,
                          "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2))


def _tensor_pickle(key: str, shape, stride) -> bytes:
  """Hand-assembled protocol-2 pickle of {'w': _rebuild_tensor_v2(storage, 0, shape, stride)}."""
  def tup(xs):
    return b"(" + b"".join(b"K" + bytes([x]) for x in xs) + b"t"
  return (b"\x80\x02}(X\x01\x00\x00\x00w"
          b"ctorch._utils\n_rebuild_tensor_v2\n("
          b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
          + b"X" + struct.pack("<I", len(key)) + key.encode()
          + b"X\x03\x00\x00\x00cpuK" + bytes([int(np.prod(shape))]) + b"NtQ"
          + b"K\x00" + tup(shape) + tup(stride) + b"\x89)tRu.")


def test_reads_the_shipped_efficientnet_checkpoint():
  sd = torch_pickle.load_state_dict(efficientnet_lite.default_weights_path())
  assert len(sd) == 296
  assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3)
  assert sd["_fc.weight"].shape == (1000, 1280) and sd["_fc.weight"].dtype == np.float32
  assert sd["_bn0.num_batches_tracked"].dtype == np.int64
  # BatchNorm variances are positive and the classifier is not all zeros: real data was read.
  assert (sd["_bn1.running_var"] > 0).all() and np.abs(sd["_fc.weight"]).mean() > 1e-3


def test_legacy_strided_view_round_trip(tmp_path):
  data = np.arange(6, dtype=np.float32)
  path = tmp_path / "t.pth"
  # A transposed view: shape (3, 2) with strides (1, 3) over a 6-element storage.
  body = _tensor_pickle("k0", (3, 2), (1, 3)) + pickle.dumps(["k0"], protocol=2)
  body += struct.pack("<q", 6) + data.tobytes()
  path.write_bytes(_legacy_header() + body)
  sd = torch_pickle.load_state_dict(path)
  np.testing.assert_array_equal(sd["w"], data.reshape(2, 3).T)


def test_zip_format(tmp_path):
  path = tmp_path / "z.pth"
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("archive/data.pkl", _tensor_pickle("0", (2, 2), (2, 1)))
    zf.writestr("archive/data/0", np.array([1, 2, 3, 4], np.float32).tobytes())
  sd = torch_pickle.load_state_dict(path)
  np.testing.assert_array_equal(sd["w"], [[1, 2], [3, 4]])


def test_refuses_arbitrary_globals(tmp_path):
  evil = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R."
  path = tmp_path / "evil.pth"
  path.write_bytes(_legacy_header() + evil)
  with pytest.raises(io_utils.BadInputError, match="refusing to load global os.system"):
    torch_pickle.load_state_dict(path)


def test_not_a_checkpoint(tmp_path):
  path = tmp_path / "junk.pth"
  path.write_bytes(pickle.dumps("hello"))
  with pytest.raises(io_utils.BadInputError, match="not a PyTorch legacy checkpoint"):
    torch_pickle.load_state_dict(path)
