"""Item image references (the items.jsonl `image` field): one resolution for every stage."""

from __future__ import annotations

import dataclasses
import os

OK = "ok"
NO_IMAGE = "no_image"          # items.jsonl "image" is null or empty
REMOTE = "remote"              # a URL: no stage downloads it (HTTP backends may receive it as-is)
MISSING = "missing_file"       # local path that does not exist
UNREADABLE = "unreadable"      # exists but cannot be decoded (set by the stage that decodes)

URL_PREFIXES = ("http://", "https://", "data:", "ftp://", "s3://", "gs://")


@dataclasses.dataclass
class ImageRef:
  """Where an item's image is and whether it can be used."""
  status: str                 # OK | NO_IMAGE | REMOTE | MISSING | UNREADABLE
  path: str | None = None     # local file (status OK)
  url: str | None = None      # remote URL (status REMOTE)
  sha: str | None = None      # content hash of the local file (filled by stages that cache on it)

  def hash_input(self):
    """What a cache key sees: file content hash, URL, or the status."""
    return self.sha or self.url or self.status


def resolve(data_dir: str, ref: str | None) -> ImageRef:
  """Maps an `image` value (relative to data_dir, absolute, URL, None) to an ImageRef."""
  if ref is None or not str(ref).strip():
    return ImageRef(NO_IMAGE)
  ref = str(ref).strip()
  if ref.startswith(URL_PREFIXES):
    return ImageRef(REMOTE, url=ref)
  path = ref if os.path.isabs(ref) else os.path.join(data_dir, ref)
  if not os.path.isfile(path):
    return ImageRef(MISSING)
  return ImageRef(OK, path=path)
