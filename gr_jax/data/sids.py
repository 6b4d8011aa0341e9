"""Semantic IDs: the SID token syntax (`<prefix_code>`) and sids.json, its one reader and writer.

DIR/tokenizer/<run>/sids.json (written by `gr-jax tokenize` or `gr-jax prepare --import_sids`):
  {"run": str, "modalities": {MOD: {"prefixes": [str], "codebook_sizes": [int],
                                    "sids": {item_id: ["<a_1>", "<b_2>", ...]}}}}
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np

from gr_jax import io_utils
from gr_jax.data import layout

PREFIX_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")
TOKEN_RE = re.compile(rf"<({PREFIX_RE.pattern})_(\d+)>")


def token(prefix: str, code: int) -> str:
  """The SID token of one code: `<a_12>`."""
  return f"<{prefix}_{int(code)}>"


def tokens_for(prefixes: Sequence[str], codebook_sizes: Sequence[int]) -> list[str]:
  """Every SID token of one modality, level by level: `<a_0>`, ..., `<b_0>`, ...."""
  if len(prefixes) != len(codebook_sizes):
    raise ValueError(f"{len(prefixes)} prefixes but {len(codebook_sizes)} codebook sizes")
  return [token(p, k) for p, size in zip(prefixes, codebook_sizes) for k in range(int(size))]


def split_sid(sid: str | Sequence[str]) -> list[str]:
  """Splits `"<a_1><b_2>"` into `["<a_1>", "<b_2>"]`; lists pass through."""
  if not isinstance(sid, str):
    return list(sid)
  tokens = [m.group(0) for m in TOKEN_RE.finditer(sid)]
  if "".join(tokens) != sid:
    raise ValueError(f"not a SID string: {sid!r}")
  return tokens


def modality_entry(item_ids: Sequence[str], codes_NxL: np.ndarray, prefixes: Sequence[str],
                   codebook_sizes: Sequence[int]) -> dict:
  """One `modalities.<MOD>` object of sids.json."""
  codes_NxL = np.asarray(codes_NxL)
  if codes_NxL.shape != (len(item_ids), len(prefixes)) or len(codebook_sizes) != len(prefixes):
    raise ValueError(f"codes {codes_NxL.shape} do not match {len(item_ids)} items x "
                     f"{len(prefixes)} prefixes / {len(codebook_sizes)} sizes")
  table = {item: [token(p, c) for p, c in zip(prefixes, row)]
           for item, row in zip(item_ids, codes_NxL.tolist())}
  return {"prefixes": list(prefixes), "codebook_sizes": [int(s) for s in codebook_sizes],
          "sids": table}


def write_sids(path: str, run: str, modalities: Mapping[str, dict],
               source: str | None = None) -> None:
  """Writes {"run", ["source",] "modalities"} atomically (validated first)."""
  doc = {"run": run, **({"source": source} if source else {}), "modalities": dict(modalities)}
  validate(doc, path)
  io_utils.atomic_write_json(path, doc, indent=None)


def validate(doc: dict, path: str = layout.SIDS) -> dict:
  """Checks the contract: tokens `<prefix_k>` with k < size, disjoint prefixes, unique SIDs
  (unless `"duplicates": "kept"`: a peer's SIDs imported as published, see reproduce/peer_sids)."""
  bad = lambda field, why: io_utils.BadInputError(path, None, field, why)
  if not isinstance(doc, dict) or not isinstance(doc.get("modalities"), dict) or not doc["modalities"]:
    raise bad("modalities", "missing or empty")
  seen_prefixes = set()
  for mod, spec in doc["modalities"].items():
    where = f"modalities.{mod}"
    if not isinstance(spec, dict):
      raise bad(where, "expected an object")
    prefixes, sizes, table = spec.get("prefixes"), spec.get("codebook_sizes"), spec.get("sids")
    if not isinstance(prefixes, list) or not prefixes or not all(
        isinstance(p, str) and PREFIX_RE.fullmatch(p) for p in prefixes):
      raise bad(f"{where}.prefixes", "expected a non-empty list of alphanumeric strings")
    if len(set(prefixes)) != len(prefixes) or seen_prefixes & set(prefixes):
      raise bad(f"{where}.prefixes",
                "prefixes must be distinct within and across modalities (none shared)")
    seen_prefixes |= set(prefixes)
    if (not isinstance(sizes, list) or len(sizes) != len(prefixes)
        or not all(isinstance(s, int) and s > 0 for s in sizes)):
      raise bad(f"{where}.codebook_sizes", "expected one positive int per prefix")
    if not isinstance(table, dict) or not table:
      raise bad(f"{where}.sids", "expected a non-empty object item_id -> tokens")
    owners = {}
    for item, tokens in table.items():
      if not isinstance(tokens, list) or len(tokens) != len(prefixes):
        raise bad(f"{where}.sids.{item}", f"expected a list of {len(prefixes)} tokens")
      for level, (tok, p, size) in enumerate(zip(tokens, prefixes, sizes)):
        m = TOKEN_RE.fullmatch(tok) if isinstance(tok, str) else None
        if not m or m.group(1) != p or int(m.group(2)) >= size:
          raise bad(f"{where}.sids.{item}",
                    f"level {level} token {tok!r} is not <{p}_k> with k < {size}")
      key = "".join(tokens)
      if key in owners and doc.get("duplicates") != "kept":
        raise bad(f"{where}.sids.{item}", f"SID {key} is also the SID of {owners[key]!r}")
      owners[key] = item
  return doc


def load_sids(path: str) -> dict:
  """The parsed sids.json {"run", "modalities": {MOD: {prefixes, codebook_sizes, sids}}}, validated."""
  return validate(io_utils.read_json(path), path)


def sid_strings(doc: dict, modality: str) -> dict[str, str]:
  """{item_id: "<a_1><b_2>..."} of one modality of a loaded sids.json."""
  return {item: "".join(toks) for item, toks in doc["modalities"][modality]["sids"].items()}


def codes_array(doc: dict, modality: str, item_ids: Sequence[str]) -> np.ndarray:
  """int32 [N, L] codes of `item_ids` (in that order) for one modality."""
  table = doc["modalities"][modality]["sids"]
  return np.asarray([[int(TOKEN_RE.fullmatch(t).group(2)) for t in table[i]] for i in item_ids],
                    np.int32)


def read_layout(path: str) -> dict[str, dict]:
  """{modality: {"prefixes", "codebook_sizes"}} of a sids.json (validated), modalities sorted."""
  doc = load_sids(path)
  return {mod: {"prefixes": list(spec["prefixes"]), "codebook_sizes": list(spec["codebook_sizes"])}
          for mod, spec in sorted(doc["modalities"].items())}


def read_sid_strings(path: str) -> dict[str, dict[str, str]]:
  """{modality: {item_id: SID string}} of a sids.json (validated)."""
  doc = load_sids(path)
  return {mod: sid_strings(doc, mod) for mod in doc["modalities"]}
