"""Real-data test: the full TriAlignGR mixture (and MACRec, TIGER) on Amazon Scientific (../shared/data).

Scientific ships interactions and item text only, so this test writes the
canonical dataset files itself (leave-one-out, as `gr-jax prepare` does) and
fixture SIDs from each item's index digits (no tokenizer ran). Captions and
interest tags are fixture strings derived from the real item text, so all
eight tasks have examples.
"""

import collections
import json
import os

import numpy as np
import pytest
import seqio

import gr_jax_tasks
from gr_jax import io_utils
from gr_jax.data import schema
from gr_jax_tasks import registry
from gr_jax_tasks import testing


@pytest.fixture(scope="module")
def scientific(shared_data_dir, tmp_path_factory):
  src = os.path.join(shared_data_dir, "Scientific")
  out = str(tmp_path_factory.mktemp("scientific"))
  index_to_asin = {}
  with open(os.path.join(src, "Scientific.item2index"), encoding="utf-8") as f:
    for line in f:
      asin, idx = line.rstrip("\n").split("\t")
      index_to_asin[int(idx)] = asin
  items, interests, captions = [], [], []
  with open(os.path.join(src, "Scientific.text"), encoding="utf-8") as f:
    next(f)
    for line in f:
      asin, text = line.rstrip("\n").split("\t", 1)
      parts = text.strip().rstrip(".").rsplit(". ", 2)
      title = parts[0]
      category = parts[1] if len(parts) > 1 else ""
      brand = parts[2] if len(parts) > 2 else ""
      items.append(schema.Item(item_id=asin, title=title, brand=brand, categories=[category]))
      tags = [t for t in (category[-40:].strip(), brand) if t]
      if tags:
        interests.append({"item_id": asin, "interests": tags, "status": "ok"})
      captions.append({"item_id": asin, "caption": f"A product photo of {title[:80]}.", "status": "ok"})
  order = {asin: n for n, asin in sorted(index_to_asin.items())}
  items.sort(key=lambda it: order[it.item_id])
  schema.write_items(out, items)
  io_utils.atomic_write_jsonl(os.path.join(out, "enrich", "captions.jsonl"), captions)
  io_utils.atomic_write_jsonl(os.path.join(out, "enrich", "interests.jsonl"), interests)
  with open(os.path.join(src, "Scientific.inter.json"), encoding="utf-8") as f:
    raw = json.load(f)
  sequences = {user: [index_to_asin[i] for i in seq] for user, seq in raw.items()}
  testing.write_splits(out, sequences)
  testing.write_all_sids(out, [it.item_id for it in items])
  return out, sequences, len(items)


def test_full_trialign_mixture_on_scientific(scientific):
  data_dir, sequences, n_items = scientific
  mixture_name = gr_jax_tasks.register_dataset("scientific", data_dir, build_vocab=True)
  mixture = seqio.get_mixture_or_task(mixture_name)
  assert len(mixture.tasks) == 8
  cfg = registry.dataset_config(mixture_name)
  sizes = {t: len(registry.examples(cfg, t, "train")) for t in registry.task_names("trialign")}
  n_train = sum(len(s) - 3 for s in sequences.values())
  assert sizes["seqrec"] == sizes["seqrec_title"] == n_train == 59_427 - 3 * 8_442
  assert sizes["title2sid"] == sizes["sid2title"] == sizes["visdesc2sid"] == n_items == 4_385
  assert len(registry.examples(cfg, "seqrec", "test")) == 8_442

  vocab = gr_jax_tasks.vocabulary(mixture_name)
  # The catalog SentencePiece model compresses real titles well.
  titles = [e["targets"] for e in registry.examples(cfg, "sid2title", "validation")]
  pieces = [len(vocab.encode(t)) for t in titles]
  assert np.mean(pieces) < 0.4 * np.mean([len(t) for t in titles])
  assert all(vocab.decode(vocab.encode(t)) == t for t in titles)

  lengths = {"inputs": 160, "targets": 48}
  ds = mixture.get_dataset(lengths, split="train", seed=0, passthrough_features=["task"])
  tasks = collections.Counter()
  for row in ds.take(800).as_numpy_iterator():
    tasks[row["task"].decode()] += 1
    assert row["targets"][-1] == vocab.eos_id or len(row["targets"]) == lengths["targets"]
  assert set(tasks) == set(registry.task_names("trialign"))
  converted = seqio.EncDecFeatureConverter(pack=False)(
      mixture.get_dataset(lengths, split="train", seed=0), lengths)
  batch = next(converted.batch(32).as_numpy_iterator())
  assert batch["encoder_input_tokens"].shape == (32, 160)
  assert batch["decoder_target_tokens"].shape == (32, 48)


def test_macrec_and_tiger_on_scientific(scientific):
  data_dir, _, _ = scientific
  for method, n_tasks in (("macrec", 6), ("tiger", 1)):
    name = gr_jax_tasks.register_dataset("scientific", data_dir, method=method)
    mixture = seqio.get_mixture_or_task(name)
    assert len(mixture.tasks) == n_tasks
    task = seqio.get_mixture_or_task(f"{method}_scientific_{gr_jax_tasks.seqrec_task_names(method)[0]}")
    vocab = task.output_features["targets"].vocabulary
    row = next(task.get_dataset({"inputs": 128, "targets": 8}, split="test", shuffle=False).as_numpy_iterator())
    levels = 4 if method == "macrec" else 3
    assert len(row["targets"]) == levels + 1 and all(vocab.is_sid_id(i) for i in row["targets"][:-1])
