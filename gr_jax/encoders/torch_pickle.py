"""Reads PyTorch `.pth` state dicts (legacy pickle or zip) into numpy, without torch.

Only plain tensors in (Ordered)dicts are supported. The unpickler resolves a
short allow-list of globals (`collections.OrderedDict`,
`torch._utils._rebuild_tensor[_v2]`, `torch.*Storage`) to local stand-ins and
refuses everything else, so a malicious file cannot run code.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from gr_jax import io_utils

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_TORCH_DTYPES = {"float32": np.float32, "float": np.float32, "float64": np.float64,
                 "double": np.float64, "float16": np.float16, "half": np.float16,
                 "int64": np.int64, "long": np.int64, "int32": np.int32, "int": np.int32,
                 "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_}


class _StorageType:
  """Stand-in for `torch.FloatStorage` etc.: remembers the numpy dtype."""

  def __init__(self, dtype):
    self.dtype = np.dtype(dtype)


class _TensorRef:
  """A tensor view (storage key, offset, shape, stride) resolved after loading."""

  def __init__(self, storage, offset, shape, stride):
    self.storage, self.offset = storage, int(offset)
    self.shape, self.stride = tuple(int(s) for s in shape), tuple(int(s) for s in stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
  return _TensorRef(storage, storage_offset, size, stride)


class _SafeUnpickler(pickle.Unpickler):
  """Unpickler that only builds dicts, tuples, numbers and tensor references."""

  def find_class(self, module, name):
    if (module, name) == ("collections", "OrderedDict"):
      return collections.OrderedDict
    if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
      return _rebuild_tensor
    if module == "torch" and name in _STORAGE_DTYPES:
      return _StorageType(_STORAGE_DTYPES[name])
    if module == "torch" and name in _TORCH_DTYPES:  # zip format: torch.float32 etc.
      return _StorageType(_TORCH_DTYPES[name])
    raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

  def persistent_load(self, pid):
    # ('storage', storage_type, key, location, numel[, view_metadata])
    if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
      raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
    storage_type, key = pid[1], str(pid[2])
    dtype = storage_type.dtype if isinstance(storage_type, _StorageType) else None
    if dtype is None:
      raise pickle.UnpicklingError(f"unknown storage type {storage_type!r}")
    return (key, dtype)


def _view(flat: np.ndarray, ref: _TensorRef) -> np.ndarray:
  if not ref.shape:
    return flat[ref.offset].copy()
  itemsize = flat.itemsize
  out = np.lib.stride_tricks.as_strided(
      flat[ref.offset:], shape=ref.shape, strides=[s * itemsize for s in ref.stride])
  return np.ascontiguousarray(out)


def _resolve(obj, storages: dict[str, np.ndarray]):
  if isinstance(obj, _TensorRef):
    key, _ = obj.storage
    return _view(storages[key], obj)
  if isinstance(obj, dict):
    return collections.OrderedDict((k, _resolve(v, storages)) for k, v in obj.items())
  return obj


def _load_legacy(f, path: str) -> dict:
  magic = pickle.load(f)
  if magic != _LEGACY_MAGIC:
    raise io_utils.BadInputError(path, None, None, "not a PyTorch legacy checkpoint")
  pickle.load(f)  # protocol version
  sys_info = pickle.load(f)
  if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
    raise io_utils.BadInputError(path, None, None, "big-endian checkpoints are not supported")
  unpickler = _SafeUnpickler(f)
  tree = unpickler.load()
  keys = pickle.load(f)
  # Storage dtypes were recorded by persistent_load; collect them from the tree.
  dtypes: dict[str, np.dtype] = {}

  def collect(obj):
    if isinstance(obj, _TensorRef):
      dtypes[obj.storage[0]] = obj.storage[1]
    elif isinstance(obj, dict):
      for v in obj.values():
        collect(v)
  collect(tree)
  storages = {}
  for key in keys:
    key = str(key)
    (numel,) = struct.unpack("<q", f.read(8))
    dtype = dtypes[key]
    data = f.read(numel * dtype.itemsize)
    if len(data) != numel * dtype.itemsize:
      raise io_utils.BadInputError(path, None, key, "truncated storage data")
    storages[key] = np.frombuffer(data, dtype=dtype)
  return _resolve(tree, storages)


def _load_zip(path: str) -> dict:
  with zipfile.ZipFile(path) as zf:
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if not pkl:
      raise io_utils.BadInputError(path, None, None, "zip checkpoint without data.pkl")
    prefix = pkl[0][: -len("data.pkl")]
    tree = _SafeUnpickler(io.BytesIO(zf.read(pkl[0]))).load()
    refs: dict[str, np.dtype] = {}

    def collect(obj):
      if isinstance(obj, _TensorRef):
        refs[obj.storage[0]] = obj.storage[1]
      elif isinstance(obj, dict):
        for v in obj.values():
          collect(v)
    collect(tree)
    storages = {k: np.frombuffer(zf.read(f"{prefix}data/{k}"), dtype=dt) for k, dt in refs.items()}
  return _resolve(tree, storages)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Returns {name: numpy array} from a PyTorch state-dict file (no torch needed)."""
  path = os.fspath(path)
  try:
    if zipfile.is_zipfile(path):
      tree = _load_zip(path)
    else:
      with open(path, "rb") as f:
        tree = _load_legacy(f, path)
  except (pickle.UnpicklingError, EOFError, KeyError, struct.error) as e:
    raise io_utils.BadInputError(path, None, None, f"cannot read checkpoint ({e})") from e
  if isinstance(tree, dict) and "state_dict" in tree and isinstance(tree["state_dict"], dict):
    tree = tree["state_dict"]
  if not isinstance(tree, dict):
    raise io_utils.BadInputError(path, None, None, f"expected a state dict, got {type(tree).__name__}")
  return {k: v for k, v in tree.items() if isinstance(v, np.ndarray) or np.isscalar(v)}
