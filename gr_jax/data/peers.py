"""Readers of the processed datasets that peer projects publish, and import of their SIDs.

So a user can compare with a peer on identical data and splits:
  lcrec       LC-Rec / MQL4GRec / LETTER: <D>.inter.json {user: [item, ...]} (chronological),
              <D>.item.json {item: {"title", "description", ...}}, optional <D>.item2id,
              SIDs in <D>.index*.json {item: ["<a_1>", "<b_2>", ...]}.
  recbole     RecBole / UniSRec atomic files: <D>.inter (user_id, item_id, timestamp) or
              <D>.{train,valid,test}.inter (user_id, item_id_list, item_id); items from
              <D>.item (item_id, title, ...) or <D>.text (item_id, text) with <D>.item2index
              mapping raw ids to the integer ids of the .inter files.
  minionerec  MiniOneRec: index/<D>.item.json and {train,valid,test}/<D>*.csv with
              user_id, history_item_id (a list literal), item_id columns.
All return chronological sequences {user: [item, ...]} and {item_id: Item}; the sequence of a
user is the peer's test history + test target, so our leave-one-out equals the peer's split.
"""

from __future__ import annotations

import ast
import csv
import glob
import json
import os
import re
from typing import Iterator, Mapping, Optional

from gr_jax import io_utils
from gr_jax.data import preprocess
from gr_jax.data import schema

SOURCES = ("lcrec", "recbole", "minionerec")
_SID_TOKEN = re.compile(r"<([A-Za-z]+)_(\d+)>")


def _load_json(path: str):
  try:
    with io_utils.open_text(path) as f:
      return json.load(f)
  except ValueError as e:
    raise io_utils.BadInputError(path, None, None, f"malformed JSON ({e})") from e


def _item_from_record(item_id: str, rec) -> schema.Item:
  if isinstance(rec, str):
    rec = {"title": rec}
  if not isinstance(rec, Mapping):
    raise ValueError(f"item {item_id}: expected an object or a string")
  cats = rec.get("categories") or rec.get("category") or []
  if isinstance(cats, str):
    cats = [c.strip() for c in re.split(r"[,>|]", cats) if c.strip()]
  return schema.Item(item_id=str(item_id), title=preprocess.clean_text(rec.get("title")),
                     description=preprocess.clean_text(rec.get("description")),
                     brand=preprocess.clean_text(rec.get("brand")),
                     categories=[preprocess.clean_text(c) for c in cats if c],
                     image=rec.get("image") or rec.get("imUrl") or None)


def _only(pattern: str, what: str) -> str:
  hits = sorted(glob.glob(pattern))
  if not hits:
    raise FileNotFoundError(f"no {what} matching {pattern}")
  return hits[0]


# ----------------------------------------------------------------------------- LC-Rec
def load_lcrec(raw_dir: str, dataset: str) -> tuple[dict[str, list[str]], dict[str, schema.Item]]:
  """LC-Rec / MQL4GRec / LETTER: <D>.inter.json + <D>.item.json."""
  inter_path = os.path.join(raw_dir, f"{dataset}.inter.json")
  inter = _load_json(inter_path)
  if not isinstance(inter, dict):
    raise io_utils.BadInputError(inter_path, None, None, "expected {user: [items]}")
  sequences = {}
  for user, items in inter.items():
    if not isinstance(items, list):
      raise io_utils.BadInputError(inter_path, None, str(user), "expected a list of item ids")
    sequences[str(user)] = [str(i) for i in items]
  items_path = os.path.join(raw_dir, f"{dataset}.item.json")
  items = {}
  if os.path.exists(items_path):
    for item_id, rec in _load_json(items_path).items():
      try:
        items[str(item_id)] = _item_from_record(item_id, rec)
      except ValueError as e:
        raise io_utils.BadInputError(items_path, None, str(item_id), str(e)) from e
  return sequences, items


# ----------------------------------------------------------------------------- RecBole
def read_atomic(path: str) -> Iterator[tuple[int, dict]]:
  """(line, {field: value}) of a RecBole atomic TSV file (header `name:type`)."""
  lines = io_utils.iter_lines(path)
  header = None
  for line, text in lines:
    text = text.rstrip("\n").rstrip("\r")
    if header is None:
      header = [h.split(":", 1)[0] for h in text.split("\t")]
      continue
    if not text.strip():
      continue
    values = text.split("\t")
    if len(values) != len(header):
      raise io_utils.BadInputError(path, line, None,
                                   f"{len(values)} tab-separated fields, header has {len(header)}")
    yield line, dict(zip(header, values))


def _index_map(path: str) -> dict[str, str]:
  """`raw_id<TAB>int` -> {int (as str): raw_id}."""
  out = {}
  for line, text in io_utils.iter_lines(path):
    if not text.strip():
      continue
    parts = text.rstrip("\n").split("\t")
    if len(parts) != 2:
      raise io_utils.BadInputError(path, line, None, "expected `raw_id<TAB>index`")
    out[parts[1].strip()] = parts[0].strip()
  return out


def _recbole_sequences(raw_dir: str, dataset: str) -> dict[str, list[str]]:
  test = os.path.join(raw_dir, f"{dataset}.test.inter")
  if os.path.exists(test):
    seqs = {}
    for line, rec in read_atomic(test):
      for field in ("user_id", "item_id_list", "item_id"):
        if field not in rec:
          raise io_utils.BadInputError(test, line, field, "missing column")
      seqs[rec["user_id"]] = rec["item_id_list"].split() + [rec["item_id"]]
    return seqs
  full = os.path.join(raw_dir, f"{dataset}.inter")
  if not os.path.exists(full):
    raise FileNotFoundError(f"neither {test} nor {full} exists")

  def events():
    for line, rec in read_atomic(full):
      try:
        ts = float(rec.get("timestamp", line))
      except ValueError as e:
        raise io_utils.BadInputError(full, line, "timestamp", "not a number") from e
      yield rec["user_id"], rec["item_id"], ts

  return preprocess.chronological(events())


def load_recbole(raw_dir: str, dataset: str) -> tuple[dict[str, list[str]], dict[str, schema.Item]]:
  """RecBole / UniSRec atomic files (see the module docstring)."""
  sequences = _recbole_sequences(raw_dir, dataset)
  items: dict[str, schema.Item] = {}
  item_file = os.path.join(raw_dir, f"{dataset}.item")
  text_file = os.path.join(raw_dir, f"{dataset}.text")
  if os.path.exists(item_file):
    for line, rec in read_atomic(item_file):
      if "item_id" not in rec:
        raise io_utils.BadInputError(item_file, line, "item_id", "missing column")
      items[rec["item_id"]] = _item_from_record(rec["item_id"], rec)
  elif os.path.exists(text_file):
    # UniSRec: text keyed by the raw id (ASIN); .item2index maps it to the .inter ids.
    index = os.path.join(raw_dir, f"{dataset}.item2index")
    raw_of = _index_map(index) if os.path.exists(index) else None
    by_raw = {}
    for line, rec in read_atomic(text_file):
      if "item_id" not in rec or "text" not in rec:
        raise io_utils.BadInputError(text_file, line, "text", "expected item_id and text columns")
      by_raw[rec["item_id"]] = rec["text"]
    ids = raw_of.items() if raw_of is not None else ((k, k) for k in by_raw)
    for idx, raw in ids:
      text = preprocess.clean_text(by_raw.get(raw, ""))
      # UniSRec text = "title. categories. brand." -> title is the first sentence.
      title, _, rest = text.partition(". ")
      items[idx] = schema.Item(item_id=idx, title=title.strip(" ."), description=rest.strip())
  return sequences, items


# ----------------------------------------------------------------------------- MiniOneRec
def load_minionerec(raw_dir: str, dataset: str) -> tuple[dict[str, list[str]], dict[str, schema.Item]]:
  """MiniOneRec: index/<D>.item.json and test/<D>*.csv (history_item_id + item_id)."""
  test_csv = _only(os.path.join(raw_dir, "test", f"{dataset}*.csv"), "MiniOneRec test csv")
  sequences = {}
  with io_utils.open_text(test_csv) as f:
    for line, rec in enumerate(csv.DictReader(f), start=2):
      for field in ("user_id", "history_item_id", "item_id"):
        if rec.get(field) in (None, ""):
          raise io_utils.BadInputError(test_csv, line, field, "missing value")
      try:
        history = ast.literal_eval(rec["history_item_id"])
      except (ValueError, SyntaxError) as e:
        raise io_utils.BadInputError(test_csv, line, "history_item_id", "not a list literal") from e
      sequences[str(rec["user_id"])] = [str(i) for i in history] + [str(rec["item_id"])]
  items = {}
  item_json = os.path.join(raw_dir, "index", f"{dataset}.item.json")
  if os.path.exists(item_json):
    for item_id, rec in _load_json(item_json).items():
      items[str(item_id)] = _item_from_record(item_id, rec)
  return sequences, items


LOADERS = {"lcrec": load_lcrec, "recbole": load_recbole, "minionerec": load_minionerec}


# ----------------------------------------------------------------------------- SIDs
def sids_from_index(index: Mapping, run: str, modality: str = "text",
                    item_ids: Optional[set] = None, path: str = "index.json") -> dict:
  """A peer's {item: ["<a_1>", "<b_2>", ...]} -> our sids.json dict (one modality).

  Prefixes and codebook sizes are read off the tokens (size = max code + 1 per level).
  Items outside `item_ids` are ignored; items of `item_ids` without a SID are an error.
  """
  prefixes: Optional[list[str]] = None
  sizes: list[int] = []
  sids = {}
  for item_id, tokens in index.items():
    item_id = str(item_id)
    if item_ids is not None and item_id not in item_ids:
      continue
    if isinstance(tokens, str):
      tokens = [f"<{p}_{c}>" for p, c in _SID_TOKEN.findall(tokens)]
    parsed = [_SID_TOKEN.fullmatch(t) for t in tokens or []]
    if not parsed or not all(parsed):
      raise io_utils.BadInputError(path, None, item_id, f"not a list of <x_N> tokens: {tokens!r}")
    these = [m.group(1) for m in parsed]
    if prefixes is None:
      prefixes, sizes = these, [0] * len(these)
    elif these != prefixes:
      raise io_utils.BadInputError(path, None, item_id,
                                   f"token prefixes {these} differ from {prefixes} of other items")
    for level, m in enumerate(parsed):
      sizes[level] = max(sizes[level], int(m.group(2)) + 1)
    sids[item_id] = list(tokens)
  if item_ids is not None:
    missing = sorted(set(item_ids) - set(sids))
    if missing:
      raise io_utils.BadInputError(path, None, missing[0],
                                   f"{len(missing)} catalog items have no SID (e.g. {missing[:3]})")
  seen: dict[tuple, str] = {}
  for item_id, tokens in sids.items():
    key = tuple(tokens)
    if key in seen:
      raise io_utils.BadInputError(path, None, item_id,
                                   f"same SID as item {seen[key]}: peers' collisions must be resolved")
    seen[key] = item_id
  return {"run": run, "source": os.path.abspath(path),
          "modalities": {modality: {"prefixes": prefixes or [], "codebook_sizes": sizes,
                                    "sids": sids}}}


def import_sids(index_path: str, data_dir: str, run: str, modality: str = "text") -> str:
  """Writes DIR/tokenizer/<run>/sids.json from a peer's index.json; returns its path."""
  items = {it.item_id for it in schema.read_items(data_dir)}
  doc = sids_from_index(_load_json(index_path), run, modality, items, index_path)
  out = os.path.join(data_dir, schema.TOKENIZER_DIR, run, "sids.json")
  io_utils.atomic_write_json(out, doc, indent=None)
  return out
