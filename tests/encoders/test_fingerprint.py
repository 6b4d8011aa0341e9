"""Tests for content fingerprints."""

import hashlib
import os

from gr_jax.encoders import fingerprint


def test_hasher_is_stable_and_sensitive():
  a = fingerprint.Hasher("text", {"b": 1, "a": [1, 2]}, ["x"]).hexdigest()
  assert a == fingerprint.Hasher("text", {"a": [1, 2], "b": 1}, ["x"]).hexdigest()
  assert a != fingerprint.Hasher("text", {"a": [2, 1], "b": 1}, ["x"]).hexdigest()
  assert a != fingerprint.Hasher("text", {"b": 1, "a": [1, 2]}, ["x", ""]).hexdigest()


def test_file_digest_and_stamp(tmp_path):
  p = tmp_path / "w.bin"
  p.write_bytes(b"weights")
  assert fingerprint.file_digest(str(p)) == hashlib.sha256(b"weights").hexdigest()
  stamp = fingerprint.file_stamp(str(p))
  assert stamp[0] == 7
  p.write_bytes(b"other weights")
  os.utime(p, ns=(1, 2))
  assert fingerprint.file_stamp(str(p)) == [13, 2]
  assert fingerprint.file_digest(str(p)) == hashlib.sha256(b"other weights").hexdigest()
  assert fingerprint.file_stamp(str(tmp_path / "missing")) is None
  assert fingerprint.file_stamp(None) is None
