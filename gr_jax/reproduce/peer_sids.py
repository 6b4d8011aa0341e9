"""Peers' published SIDs -> DIR/tokenizer/<run>/sids.json, with their duplicates kept or split.

Peers' SID files may give several items one SID (MQL4GRec's Instruments text SIDs: 262
pairs). Two policies:
  peer         keep them, as the peers do. sids.json records `"duplicates": "kept"`; the
               decoding trie holds each SID once and a decoded SID stands for the first item
               (by item id) that has it, so a hit is "decoded SID == target's SID", which is
               how MQL4GRec / LC-Rec score (they compare SID strings; ties go to the first
               item of the index, `index2id[sid][0]`).
  extra_level  gr_jax's fix (TIGER's): append one level numbering the items of each shared
               SID 0, 1, ...; every item gets a unique SID and ranking is per item.
"""

from __future__ import annotations

import collections
import os
import string
from typing import Mapping

import numpy as np

from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import peers
from gr_jax.data import schema
from gr_jax.data import sids as sids_lib
from gr_jax.rqvae import collisions

POLICIES = ("peer", "extra_level")


def duplicate_report(codes_NxL: np.ndarray) -> dict:
  """{items_sharing, groups, largest, rate} of one modality's codes."""
  groups = collections.Counter(map(tuple, np.asarray(codes_NxL).tolist()))
  shared = [n for n in groups.values() if n > 1]
  return {"items_sharing": int(sum(shared)), "groups": len(shared),
          "largest": int(max(shared, default=1)),
          "rate": float(sum(shared) / max(len(codes_NxL), 1))}


def _new_prefix(used: set) -> str:
  for p in string.ascii_lowercase + string.ascii_uppercase:
    if p not in used:
      return p
  raise ValueError("no free single-letter SID prefix for the extra level")


def build(index_paths: Mapping[str, str], data_dir: str, run: str, policy: str) -> dict:
  """sids.json document for the catalog of `data_dir` from {modality: peer index file}."""
  if policy not in POLICIES:
    raise ValueError(f"unknown duplicates policy {policy!r}; choose from {POLICIES}")
  items = [it.item_id for it in schema.read_items(data_dir)]
  modalities, report = {}, {}
  for mod, path in index_paths.items():
    index = io_utils.read_json(path)
    if not isinstance(index, dict):
      raise io_utils.BadInputError(path, None, None, "expected {item_id: [\"<a_1>\", ...]}")
    doc = peers.sids_from_index(index, run, mod, set(items), path, allow_duplicates=True)
    layout_ = doc["modalities"][mod]
    codes = sids_lib.codes_array(doc, mod, items)  # Catalog order (first = tie winner).
    prefixes, sizes = list(layout_["prefixes"]), list(layout_["codebook_sizes"])
    report[mod] = dict(duplicate_report(codes), source=os.path.abspath(path))
    if policy == "extra_level" and report[mod]["items_sharing"]:
      codes, size = collisions.append_level(codes)
      prefix = _new_prefix({p for spec in modalities.values() for p in spec["prefixes"]}
                           | set(prefixes) | _all_prefixes(index_paths, mod))
      prefixes, sizes = prefixes + [prefix], sizes + [int(size)]
      report[mod]["extra_level"] = {"prefix": prefix, "size": int(size)}
    modalities[mod] = sids_lib.modality_entry(items, codes, prefixes, sizes)
  doc = {"run": run, "source": "peer", "modalities": modalities,
         "duplicates": "kept" if policy == "peer" and any(
             r["items_sharing"] for r in report.values()) else "none",
         "duplicates_policy": policy, "duplicate_report": report}
  return sids_lib.validate(doc, layout.sids_path(data_dir, run))


def _all_prefixes(index_paths: Mapping[str, str], skip: str) -> set:
  """Prefixes of the other modalities' files (the extra level must not reuse them)."""
  out = set()
  for mod, path in index_paths.items():
    if mod != skip:
      first = next(iter(io_utils.read_json(path).values()), [])
      out |= {sids_lib.TOKEN_RE.fullmatch(t).group(1) for t in sids_lib.split_sid(first)}
  return out


def write(index_paths: Mapping[str, str], data_dir: str, run: str, policy: str) -> str:
  """Writes DIR/tokenizer/<run>/sids.json atomically; returns its path."""
  doc = build(index_paths, data_dir, run, policy)
  out = layout.sids_path(data_dir, run)
  io_utils.atomic_write_json(out, doc, indent=None)
  return out


def representatives(sid_strings: Mapping[str, str], item_ids) -> np.ndarray:
  """[N] catalog index of the item that stands for each item's SID (first item with it)."""
  first: dict[str, int] = {}
  out = np.arange(len(item_ids))
  for n, item in enumerate(item_ids):
    sid = sid_strings.get(item)
    if sid is None:
      continue
    out[n] = first.setdefault(sid, n)
  return out
