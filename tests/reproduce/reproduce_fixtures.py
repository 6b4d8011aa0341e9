"""A tiny dataset in MQL4GRec's file format (inter.json + text/image index files)."""

from __future__ import annotations

import json
import os

import numpy as np


def write_mql4grec(raw_dir: str, name: str = "Instruments", items: int = 48, users: int = 90,
                   duplicate_pairs: int = 2, seed: int = 0) -> dict:
  """<name>.inter.json, .item2id, .index_lemb.json (with `duplicate_pairs` shared SIDs) and
  .index_vitemb.json; users walk item clusters, so the next item is learnable."""
  rng = np.random.default_rng(seed)
  os.makedirs(raw_dir, exist_ok=True)
  clusters = 4
  per = items // clusters
  inter = {}
  for u in range(users):
    c = int(rng.integers(clusters))
    length = int(rng.integers(5, 9))
    start = int(rng.integers(per))
    inter[str(u)] = [c * per + (start + k) % per for k in range(length)]
  used = sorted({i for s in inter.values() for i in s})
  assert used == list(range(items)), "every item must occur"
  text, image = {}, {}
  for i in range(items):
    c = i // per
    text[str(i)] = [f"<a_{c}>", f"<b_{i % 8}>", f"<c_{(i * 3) % 8}>", f"<d_{i % 5}>"]
    image[str(i)] = [f"<A_{c}>", f"<B_{i % per}>", f"<C_{i % 3}>", f"<D_{i}>"]
  dups = []
  for k in range(duplicate_pairs):  # Item 2k+1 takes item 2k's text SID.
    text[str(2 * k + 1)] = list(text[str(2 * k)])
    dups.append((2 * k, 2 * k + 1))
  # Make the remaining text SIDs unique by their last code where a clash happened by chance.
  seen = {}
  for i in range(items):
    key = tuple(text[str(i)])
    if key in seen and (seen[key], i) not in dups:
      text[str(i)][3] = f"<d_{5 + i}>"
    seen.setdefault(tuple(text[str(i)]), i)
  with open(os.path.join(raw_dir, f"{name}.inter.json"), "w") as f:
    json.dump(inter, f, indent=4)
  with open(os.path.join(raw_dir, f"{name}.item2id"), "w") as f:
    f.writelines(f"B{i:09d}\t{i}\n" for i in range(items))
  with open(os.path.join(raw_dir, f"{name}.index_lemb.json"), "w") as f:
    json.dump(text, f, indent=4)
  with open(os.path.join(raw_dir, f"{name}.index_vitemb.json"), "w") as f:
    json.dump(image, f, indent=4)
  return {"users": users, "items": items, "interactions": sum(map(len, inter.values())),
          "duplicates": dups}


WORDS = ("steel", "glass", "sensor", "cable", "filter", "valve", "pump", "gauge", "lens", "clamp",
         "drill", "tape", "glove", "meter", "probe", "scale")


def write_unisrec(raw_dir: str, name: str = "Scientific", items: int = 40, users: int = 60,
                  seed: int = 0) -> dict:
  """<name>.{train,valid,test}.inter + .text + .item2index + .user2index (UniSRec/RecBole)."""
  rng = np.random.default_rng(seed)
  os.makedirs(raw_dir, exist_ok=True)
  clusters, per = 4, items // 4
  seqs = {}
  for u in range(users):
    c, start = int(rng.integers(clusters)), int(rng.integers(per))
    seqs[u] = [c * per + (start + k) % per for k in range(int(rng.integers(5, 9)))]
  header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
  files = {"train": [], "valid": [], "test": []}
  for u, s in seqs.items():
    for t in range(1, len(s) - 2):
      files["train"].append(f"{u}\t{' '.join(map(str, s[:t]))}\t{s[t]}\n")
    files["valid"].append(f"{u}\t{' '.join(map(str, s[:-2]))}\t{s[-2]}\n")
    files["test"].append(f"{u}\t{' '.join(map(str, s[:-1]))}\t{s[-1]}\n")
  for split, rows in files.items():
    with open(os.path.join(raw_dir, f"{name}.{split}.inter"), "w") as f:
      f.write(header + "".join(rows))
  with open(os.path.join(raw_dir, f"{name}.text"), "w") as f:
    f.write("item_id:token\ttext:token_seq\n")
    for i in range(items):
      c = i // per
      f.write(f"A{i:09d}\t{WORDS[c * 4 % 16].title()} {WORDS[(c * 4 + 1) % 16]} {WORDS[i % 16]} "
              f"model {i}. Industrial & Scientific {WORDS[c]}. Brand{c}.\n")
  with open(os.path.join(raw_dir, f"{name}.item2index"), "w") as f:
    f.writelines(f"A{i:09d}\t{i}\n" for i in range(items))
  with open(os.path.join(raw_dir, f"{name}.user2index"), "w") as f:
    f.writelines(f"U{u:09d}\t{u}\n" for u in range(users))
  return {"users": users, "items": items, "interactions": sum(map(len, seqs.values()))}


def write_mql4grec_embeddings(raw_dir: str, name: str = "Instruments", items: int = 48,
                              seed: int = 0) -> None:
  """<name>.emb-llama-td.npy / .emb-ViT-L-14.npy: row = item id, clustered like the users."""
  rng = np.random.default_rng(seed)
  per = items // 4
  centers_t, centers_v = rng.normal(size=(4, 24)), rng.normal(size=(4, 16))
  cluster = np.arange(items) // per
  text = centers_t[cluster] + 0.3 * rng.normal(size=(items, 24))
  image = centers_v[cluster] + 0.3 * rng.normal(size=(items, 16))
  np.save(os.path.join(raw_dir, f"{name}.emb-llama-td.npy"), text.astype(np.float32))
  np.save(os.path.join(raw_dir, f"{name}.emb-ViT-L-14.npy"), image.astype(np.float32))
