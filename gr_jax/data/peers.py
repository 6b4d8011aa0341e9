"""Readers of the processed datasets that peer projects publish, and import of their SIDs.

So a user can compare with a peer on identical data and splits:
  lcrec       LC-Rec / MQL4GRec / LETTER: <D>.inter.json {user: [item, ...]} (chronological;
              the peer's leave-one-out is by position, like ours), items in <D>.item.json
              {item: {"title", "description", ...}}, optional <D>.item2id (asin<TAB>id,
              checked against the interactions), SIDs in <D>.index*.json
              {item: ["<a_1>", "<b_2>", ...]} (import with --import_sids).
  recbole     RecBole / UniSRec atomic files: <D>.{train,valid,test}.inter (user_id,
              item_id_list, item_id) or <D>.inter (user_id, item_id, timestamp).
  minionerec  MiniOneRec: {train,valid,test}/<D>*.csv (user_id, history_item_id as a list
              literal, item_id, optional title columns), items in index/<D>.item.json.
Items come from the first of <D>.item.json, index/<D>.item.json, <D>.item (RecBole:
item_id, title, ...) or <D>.text (UniSRec: raw id, "title. categories. brand.") with
<D>.item2index mapping raw ids to the ids of the interaction files.
Every loader returns (sequences {user: [item, ...]} in time order, items {id: Item},
peer targets {user: (valid target, test target)} read from the peer's split files).
"""

from __future__ import annotations

import ast
import collections
import csv
import glob
import json
import os
import re
from typing import Iterator, Mapping, Optional

from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import preprocess
from gr_jax.data import schema
from gr_jax.data import sids as sids_lib

SOURCES = ("lcrec", "recbole", "minionerec")


def require_file(path: str) -> None:
  """BadInputError unless `path` is a non-empty regular file (a 0-byte split shifts every target)."""
  if os.path.isdir(path):
    raise io_utils.BadInputError(path, None, None, "is a directory, expected a file")
  if os.path.exists(path) and os.path.getsize(path) == 0:
    raise io_utils.BadInputError(path, None, None, "empty file (0 bytes)")


def _key_line(path: str, key: str, occurrence: int = 1) -> Optional[int]:
  """Line of the `occurrence`-th `"key":` in a JSON file (for messages only)."""
  pattern = re.compile(r'"' + re.escape(str(key)) + r'"\s*:')
  seen = 0
  for line, text in preprocess.iter_lines(path, preprocess.BadLines("skip")):
    seen += len(pattern.findall(text))
    if seen >= occurrence:
      return line
  return None


def _load_json(path: str, bad: Optional[preprocess.BadLines] = None):
  """A JSON document; a duplicate key is bad input (first kept under skip), not last-wins."""
  require_file(path)
  duplicates: list[str] = []
  doc = io_utils.read_json(path, duplicates)
  bad = bad or preprocess.BadLines()
  for k in duplicates:
    bad.handle(io_utils.BadInputError(path, _key_line(path, k, 2), k,
                                      "duplicate key (an earlier entry has the same key)"))
  return doc


def _check_known(sequences: dict[str, list[str]], items: Mapping, origin, items_path: str,
                 bad: preprocess.BadLines) -> dict[str, list[str]]:
  """Item ids with no item record are bad input at their first file:line (dropped under skip)."""
  unknown = {i for s in sequences.values() for i in s if i not in items}
  if not unknown:
    return sequences
  for item_id in sorted(unknown, key=lambda x: (len(x), x)):
    path, line = origin(item_id)
    bad.handle(io_utils.BadInputError(path, line, "item_id", f"unknown item id {item_id!r} "
                                      f"(not in {os.path.basename(items_path)})"))
  return {u: [i for i in s if i not in unknown] for u, s in sequences.items()}


def _row_origins(per_file: list[dict[str, list]]) -> dict[str, tuple[str, int]]:
  """{item: (file, line)} of the first row naming each item."""
  out: dict[str, tuple[str, int]] = {}
  for rows in per_file:
    for user_rows in rows.values():
      for path, line, history, target in user_rows:
        for i in (*history, target):
          out.setdefault(i, (path, line))
  return out


def _check_split_files(paths: list[str], per_file: list[dict[str, list]]) -> None:
  """A split file with no rows while another has some is bad input (targets would shift)."""
  sizes = [sum(len(r) for r in rows.values()) for rows in per_file]
  for path, n in zip(paths, sizes):
    if path and os.path.exists(path) and n == 0 and any(sizes):
      other = max(range(len(sizes)), key=sizes.__getitem__)
      raise io_utils.BadInputError(path, None, None, f"no data rows, while {paths[other]} has "
                                   f"{sizes[other]}: the split files disagree")


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


PeerData = tuple[dict[str, list[str]], dict[str, schema.Item], dict[str, tuple]]


def _continues(seq: list[str], history: list[str]) -> bool:
  if not history or not seq:
    return True
  if len(history) <= len(seq):
    return seq[-len(history):] == history
  return history[-len(seq):] == seq


def _chain(files: list[list[tuple[str, int, list[str], str]]], field: str) -> list[str]:
  """Rebuilds one user's sequence from its (file, line, history, target) rows.

  Files come in time order (train, valid, test); inside a file rows are taken by
  increasing history length, and among rows of equal (capped) length the one whose
  history is the tail of the sequence so far goes next. A history must be that tail, or
  extend the sequence to the left (an earlier row was left out); else it is bad input.
  """
  seq: list[str] = []
  for rows in files:
    pending = sorted(rows, key=lambda r: len(r[2])) if len(rows) > 1 else list(rows)
    while pending:
      shortest = len(pending[0][2])
      pick = 0 if _continues(seq, pending[0][2]) else next(
          (k for k, r in enumerate(pending) if len(r[2]) == shortest and _continues(seq, r[2])),
          None)
      if pick is None:
        path, line, _, _ = pending[0]
        raise io_utils.BadInputError(path, line, field,
                                     "history does not continue the user's earlier rows")
      _, _, history, target = pending.pop(pick)
      if len(history) > len(seq):
        seq = list(history)
      seq.append(target)
  return seq


def _sequences_from_rows(per_file: list[dict[str, list]], field: str,
                         bad: preprocess.BadLines) -> dict[str, list[str]]:
  users: dict[str, None] = {}
  for rows in per_file:
    users.update(dict.fromkeys(rows))
  out = {}
  for user in users:
    try:
      out[user] = _chain([file_rows.get(user, []) for file_rows in per_file], field)
    except io_utils.BadInputError as e:
      bad.handle(e)
  return out


def _last_targets(rows: dict[str, list]) -> dict[str, str]:
  """{user: target of the user's latest row} (longest history, last in file order)."""
  return {u: max(enumerate(r), key=lambda kr: (len(kr[1][2]), kr[0]))[1][3]
          for u, r in rows.items() if r}


def _peer_targets(valid: dict[str, str], test: dict[str, str]) -> dict[str, tuple]:
  return {u: (valid.get(u), test.get(u)) for u in {**valid, **test}}


def _items_from_json(path: str, bad: preprocess.BadLines) -> dict[str, schema.Item]:
  doc = _load_json(path, bad)
  if not isinstance(doc, dict):
    raise io_utils.BadInputError(path, None, None, "expected {item_id: {title, ...}}")
  items = {}
  for item_id, rec in doc.items():
    try:
      items[str(item_id)] = _item_from_record(item_id, rec)
    except ValueError as e:
      bad.handle(io_utils.BadInputError(path, None, str(item_id), str(e)))
  return items


def peer_items(raw_dir: str, dataset: str, bad: preprocess.BadLines
               ) -> tuple[dict[str, schema.Item], str]:
  """Items from the first of <D>.item.json, <D>.item, <D>.text(+.item2index); (items, path)."""
  candidates = [os.path.join(raw_dir, f"{dataset}.item.json"),
                os.path.join(raw_dir, "index", f"{dataset}.item.json"),
                os.path.join(raw_dir, f"{dataset}.item"), os.path.join(raw_dir, f"{dataset}.text")]
  for path in candidates:
    if not os.path.exists(path):
      continue
    if path.endswith(".json"):
      return _items_from_json(path, bad), path
    if path.endswith(".item"):
      items = {}
      for line, rec in read_atomic(path, bad):
        if "item_id" not in rec:
          bad.handle(io_utils.BadInputError(path, line, "item_id", "missing column"))
          continue
        items[rec["item_id"]] = _item_from_record(rec["item_id"], rec)
      return items, path
    return _unisrec_text_items(raw_dir, dataset, path, bad), path
  raise FileNotFoundError(f"no item file for {dataset} in {raw_dir} (looked for "
                          f"{', '.join(os.path.basename(c) for c in candidates)})")


def _unisrec_text_items(raw_dir: str, dataset: str, text_file: str,
                        bad: preprocess.BadLines) -> dict[str, schema.Item]:
  """UniSRec: text keyed by the raw id (ASIN); <D>.item2index maps it to the .inter ids."""
  index = os.path.join(raw_dir, f"{dataset}.item2index")
  raw_of = _index_map(index, bad) if os.path.exists(index) else None
  by_raw = {}
  for line, rec in read_atomic(text_file, bad):
    if "item_id" not in rec or "text" not in rec:
      bad.handle(io_utils.BadInputError(text_file, line, "text", "expected item_id and text columns"))
      continue
    by_raw[rec["item_id"]] = rec["text"]
  texts = {raw: preprocess.clean_text(t) for raw, t in by_raw.items()}
  root = _category_root(texts.values())
  items = {}
  ids = raw_of.items() if raw_of is not None else ((k, k) for k in by_raw)
  for idx, raw in ids:
    title, categories, brand = split_unisrec_text(texts.get(raw, ""), root)
    # No description in UniSRec text: the text after the title (categories and brand,
    # what UniSRec itself embeds) stands in for it.
    items[idx] = schema.Item(item_id=idx, title=title, brand=brand,
                             description=". ".join(p for p in (categories, brand) if p),
                             categories=[categories] if categories else [])
  return items


def _category_root(texts) -> Optional[str]:
  """The top category most texts share (their middle segment starts with it), if any."""
  counts, n = collections.Counter(), 0
  for text in texts:
    parts = text.rstrip(" .").rsplit(". ", 2)
    if len(parts) == 3 and parts[1]:
      counts[" ".join(parts[1].split()[:3])] += 1
    n += 1
  if not counts:
    return None
  root, hits = counts.most_common(1)[0]
  return root if hits > n / 2 else None


def split_unisrec_text(text: str, root: Optional[str] = None) -> tuple[str, str, str]:
  """UniSRec item text "title. categories. brand." -> (title, categories, brand).

  Titles may contain ". " themselves, so the title ends where the category segment
  starts: at ". <root>" (the top category most items share), at ". . " (no categories),
  or else before the last two segments.
  """
  body = text.strip().rstrip(".").strip()
  cut = body.find(". " + root) if root else -1
  if cut < 0:
    cut = body.find(". . ")
  if cut >= 0:
    title, rest = body[:cut], body[cut + 2:]
    categories, _, brand = rest.rpartition(". ")
    if not categories and rest.startswith(". "):
      categories, brand = "", rest[2:]
  else:
    parts = body.rsplit(". ", 2)
    parts = [""] * (3 - len(parts)) + parts if len(parts) < 3 else parts
    if len(body.split(". ")) < 3:  # Only a title (and maybe one more segment).
      return body.split(". ")[0].strip(" ."), "", ""
    title, categories, brand = parts
  return title.strip(" ."), categories.strip(" ."), brand.strip(" .")


# ----------------------------------------------------------------------------- LC-Rec
def load_lcrec(raw_dir: str, dataset: str, bad: Optional[preprocess.BadLines] = None,
               require_item_text: bool = True) -> PeerData:
  """LC-Rec / MQL4GRec / LETTER: <D>.inter.json {user: [items]} (leave-one-out by position).

  Without an item file and `require_item_text=False` (MQL4GRec's folders as some snapshots
  ship them), every item of the interactions gets an empty record (placeholder title later).
  """
  bad = bad or preprocess.BadLines()
  inter_path = os.path.join(raw_dir, f"{dataset}.inter.json")
  inter = _load_json(inter_path, bad)
  if not isinstance(inter, dict):
    raise io_utils.BadInputError(inter_path, None, None, "expected {user: [items]}")
  sequences = {}
  for user, items in inter.items():
    if not isinstance(items, list) or not all(isinstance(i, (str, int)) for i in items):
      bad.handle(io_utils.BadInputError(inter_path, _key_line(inter_path, user), str(user),
                                        "expected a list of item ids"))
      continue
    if not items:
      bad.handle(io_utils.BadInputError(inter_path, _key_line(inter_path, user), str(user),
                                        "empty item list"))
      continue
    sequences[str(user)] = [str(i) for i in items]
  id_map = os.path.join(raw_dir, f"{dataset}.item2id")
  if os.path.exists(id_map):  # `asin<TAB>id`: every id of the interactions must be in it.
    known = _index_map(id_map, bad)
    unknown = sorted({i for s in sequences.values() for i in s} - set(known))
    if unknown:
      bad.handle(io_utils.BadInputError(id_map, None, "item_id", f"{len(unknown)} item ids of "
                                        f"{dataset}.inter.json are not in it (e.g. {unknown[:3]})"))
  try:
    items, items_path = peer_items(raw_dir, dataset, bad)
  except FileNotFoundError:
    if require_item_text:
      raise
    # Placeholders for every item of the interactions: nothing can be unknown.
    return sequences, {i: schema.Item(item_id=i, title="") for s in sequences.values()
                       for i in s}, {}
  owner = {}
  for user, seq in sequences.items():
    for i in seq:
      owner.setdefault(i, user)
  sequences = _check_known(sequences, items,
                           lambda i: (inter_path, _key_line(inter_path, owner[i])), items_path, bad)
  return sequences, items, {}


# ----------------------------------------------------------------------------- RecBole
def read_atomic(path: str, bad: Optional[preprocess.BadLines] = None
                ) -> Iterator[tuple[int, dict]]:
  """(line, {field: value}) of a RecBole atomic TSV file (header `name:type`)."""
  bad = bad or preprocess.BadLines()
  require_file(path)
  header = None
  for line, text in preprocess.iter_lines(path, bad):
    text = text.rstrip("\n").rstrip("\r")
    if header is None:
      header = [h.split(":", 1)[0] for h in text.split("\t")]
      continue
    if not text.strip():
      continue
    values = text.split("\t")
    if len(values) != len(header):
      bad.handle(io_utils.BadInputError(
          path, line, None, f"{len(values)} tab-separated fields, header has {len(header)}"))
      continue
    yield line, dict(zip(header, values))


def _index_map(path: str, bad: preprocess.BadLines) -> dict[str, str]:
  """`raw_id<TAB>int` -> {int (as str): raw_id}."""
  out = {}
  for line, text in preprocess.iter_lines(path, bad):
    if not text.strip():
      continue
    parts = text.rstrip("\n").split("\t")
    if len(parts) != 2:
      bad.handle(io_utils.BadInputError(path, line, None, "expected `raw_id<TAB>index`"))
      continue
    out[parts[1].strip()] = parts[0].strip()
  return out


def _atomic_rows(path: str, bad: preprocess.BadLines) -> dict[str, list]:
  """{user: [(path, line, history, target), ...]} of a RecBole .{train,valid,test}.inter file."""
  rows: dict[str, list] = {}
  for line, rec in read_atomic(path, bad):
    missing = [f for f in ("user_id", "item_id_list", "item_id") if f not in rec]
    if missing or not rec.get("item_id", "").strip():
      bad.handle(io_utils.BadInputError(path, line, (missing or ["item_id"])[0], "missing value"))
      continue
    history = rec["item_id_list"].split()
    if not history:
      bad.handle(io_utils.BadInputError(path, line, "item_id_list", "empty history"))
      continue
    rows.setdefault(rec["user_id"], []).append((path, line, history, rec["item_id"].strip()))
  return rows


def load_recbole(raw_dir: str, dataset: str, bad: Optional[preprocess.BadLines] = None) -> PeerData:
  """RecBole / UniSRec atomic files: the split files if present, else <D>.inter.

  With split files a user's sequence is rebuilt from the train rows (every prefix,
  newest first in UniSRec), then the valid and test rows, so histories the peer capped
  (50 items) are restored as far as the train rows reach; our leave-one-out
  valid/test targets then equal the peer's.
  """
  bad = bad or preprocess.BadLines()
  split_files = [os.path.join(raw_dir, f"{dataset}.{s}.inter") for s in ("train", "valid", "test")]
  full = os.path.join(raw_dir, f"{dataset}.inter")
  if any(os.path.exists(p) for p in split_files):
    per_file = [_atomic_rows(p, bad) if os.path.exists(p) else {} for p in split_files]
    _check_split_files(split_files, per_file)
    sequences = _sequences_from_rows(per_file, "item_id_list", bad)
    targets = _peer_targets(_last_targets(per_file[1]), _last_targets(per_file[2]))
    origins = _row_origins(per_file)
  elif os.path.exists(full):
    origins = {}

    def events():
      for line, rec in read_atomic(full, bad):
        try:
          origins.setdefault(rec["item_id"], (full, line))
          yield rec["user_id"], rec["item_id"], float(rec.get("timestamp", line))
        except KeyError as e:
          bad.handle(io_utils.BadInputError(full, line, e.args[0], "missing column"))
        except ValueError:
          bad.handle(io_utils.BadInputError(full, line, "timestamp", "not a number"))
    sequences, targets = preprocess.chronological(events()), {}
  else:
    raise FileNotFoundError(f"none of {split_files + [full]} exists")
  items, items_path = peer_items(raw_dir, dataset, bad)
  sequences = _check_known(sequences, items, lambda i: origins.get(i, (items_path, None)),
                           items_path, bad)
  return sequences, items, targets


# ----------------------------------------------------------------------------- MiniOneRec
def _csv_rows(path: str, bad: preprocess.BadLines, items: dict[str, schema.Item]
              ) -> dict[str, list]:
  """{user: rows} of one MiniOneRec csv; titles in the csv fill `items` where missing."""
  require_file(path)
  rows: dict[str, list] = {}
  where = [0]

  def lines():  # Decoded line by line: a non-UTF-8 line is bad input that `skip` can skip.
    for where[0], text in preprocess.iter_lines(path, bad):
      yield text

  reader = csv.DictReader(lines())
  try:
    for rec in reader:
      _csv_row(path, where[0], rec, rows, bad, items)
  except csv.Error as e:
    raise io_utils.BadInputError(path, where[0], None, f"malformed CSV ({e})") from e
  if reader.fieldnames is None:
    raise io_utils.BadInputError(path, None, None, "no header line")
  return rows


def _csv_row(path: str, line: int, rec: dict, rows: dict, bad: preprocess.BadLines,
             items: dict) -> None:
  """Adds one csv record to `rows` (or hands its error to `bad`)."""
  try:
    for field in ("user_id", "history_item_id", "item_id"):
      if rec.get(field) in (None, ""):
        raise io_utils.BadInputError(path, line, field, "missing value")
    try:
      history = [str(i) for i in ast.literal_eval(rec["history_item_id"])]
    except (ValueError, SyntaxError, TypeError) as e:
      raise io_utils.BadInputError(path, line, "history_item_id", "not a list literal") from e
    if not history:
      raise io_utils.BadInputError(path, line, "history_item_id", "empty history")
  except io_utils.BadInputError as e:
    bad.handle(e)
    return
  target = str(rec["item_id"]).strip()
  rows.setdefault(str(rec["user_id"]), []).append((path, line, history, target))
  _csv_titles(rec, history, target, items)


def _csv_titles(rec: dict, history: list[str], target: str, items: dict) -> None:
  if rec.get("item_title") and target not in items:
    items[target] = schema.Item(target, preprocess.clean_text(rec["item_title"]))
  try:
    titles = ast.literal_eval(rec.get("history_item_title") or "[]")
  except (ValueError, SyntaxError):
    return
  if isinstance(titles, list) and len(titles) == len(history):
    for i, t in zip(history, titles):
      if i not in items and isinstance(t, str):
        items[i] = schema.Item(i, preprocess.clean_text(t))


def load_minionerec(raw_dir: str, dataset: str, bad: Optional[preprocess.BadLines] = None
                    ) -> PeerData:
  """MiniOneRec: {train,valid,test}/<D>*.csv rows (user_id, history_item_id, item_id).

  A user's sequence is rebuilt from all rows (train, valid, test; histories are tails
  of it). Items come from index/<D>.item.json, else from the csv title columns.
  MiniOneRec data split by time (not leave-one-out) keeps a user's rows in several
  files: stats.json then reports how many peer targets our leave-one-out reproduces.
  """
  bad = bad or preprocess.BadLines()
  csv_items: dict[str, schema.Item] = {}
  per_file, paths = [], []
  for split in ("train", "valid", "test"):
    hits = sorted(glob.glob(os.path.join(raw_dir, split, f"{dataset}*.csv")))
    if split == "test" and not hits:
      raise FileNotFoundError(f"no MiniOneRec test csv {os.path.join(raw_dir, 'test', dataset)}*.csv")
    per_file.append(_csv_rows(hits[0], bad, csv_items) if hits else {})
    paths.append(hits[0] if hits else "")
  _check_split_files(paths, per_file)
  sequences = _sequences_from_rows(per_file, "history_item_id", bad)
  targets = _peer_targets(_last_targets(per_file[1]), _last_targets(per_file[2]))
  try:
    items, _ = peer_items(raw_dir, dataset, bad)
  except FileNotFoundError:
    items = {}
  for item_id, item in csv_items.items():
    items.setdefault(item_id, item)
  origins = _row_origins(per_file)
  sequences = _check_known(sequences, items, lambda i: origins.get(i, (raw_dir, None)),
                           f"index/{dataset}.item.json or the csv title columns", bad)
  return sequences, items, targets


LOADERS = {"lcrec": load_lcrec, "recbole": load_recbole, "minionerec": load_minionerec}


# ----------------------------------------------------------------------------- SIDs
def sids_from_index(index: Mapping, run: str, modality: str = "text",
                    item_ids: Optional[set] = None, path: str = "index.json",
                    allow_duplicates: bool = False) -> dict:
  """A peer's {item: ["<a_1>", "<b_2>", ...]} -> our sids.json dict (one modality).

  Prefixes and codebook sizes are read off the tokens of every item of the index (size =
  max code + 1 per level, the peer's codebooks as far as its items show them). Only
  items of `item_ids` are kept; items of `item_ids` without a SID are an error. Items
  sharing a SID are an error unless `allow_duplicates` (gr_jax.reproduce.peer_sids).
  """
  prefixes: Optional[list[str]] = None
  sizes: list[int] = []
  sids = {}
  for item_id, tokens in index.items():
    item_id = str(item_id)
    if isinstance(tokens, str):
      tokens = [sids_lib.token(p, c) for p, c in sids_lib.TOKEN_RE.findall(tokens)]
    parsed = [sids_lib.TOKEN_RE.fullmatch(t) for t in tokens or []]
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
    if item_ids is None or item_id in item_ids:
      sids[item_id] = list(tokens)
  if item_ids is not None:
    missing = sorted(set(item_ids) - set(sids))
    if missing:
      raise io_utils.BadInputError(path, None, missing[0],
                                   f"{len(missing)} catalog items have no SID (e.g. {missing[:3]})")
  seen: dict[tuple, str] = {}
  for item_id, tokens in ({} if allow_duplicates else sids).items():
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
  sids_lib.validate(doc, index_path)
  out = layout.sids_path(data_dir, run)
  sids_lib.write_sids(out, run, doc["modalities"], source=doc["source"])
  return out
