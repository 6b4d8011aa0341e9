"""Tests for gr_jax_tasks.registry: tasks, splits, leakage, ablations, determinism, seqio wiring."""

import collections
import json
import os
import re

import gin
import pytest
import seqio

from gr_jax import enrich
from gr_jax.data import sids as sids_lib
import gr_jax_tasks
from gr_jax_tasks import prompts
from gr_jax_tasks import registry
from gr_jax_tasks import sources
from gr_jax_tasks import testing

SID_RE = re.compile(r"(?:<[A-Za-z]+_\d+>)+")
TRIALIGN = ["seqrec", "seqrec_title", "title2sid", "sid2title", "content2sid", "sid2interest",
            "visdesc2sid", "visdesc2title"]
MACREC = ["seqrec_text", "seqrec_image", "text2image", "image2text", "text_hist2image",
          "image_hist2text"]


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("reg_ds"))
  seqs = testing.make_dataset(d, n_users=10, caption_items=5, interest_items=20)
  return d, seqs


@pytest.fixture(scope="module")
def sids(ds):
  out = {}
  for run in ("trialign", "macrec", "tiger"):
    out[run] = sids_lib.read_sid_strings(os.path.join(ds[0], "tokenizer", run, "sids.json"))
  return out


def ex(name, split):
  """Python examples of a registered task."""
  cfg = registry.dataset_config(name)
  task = name[len(f"{cfg.method}_{cfg.name}_"):]
  return registry.examples(cfg, task, split)


def test_names_tasks_and_uniform_rates(ds):
  names = {m: gr_jax_tasks.register_dataset("reg", ds[0], method=m) for m in ("trialign", "macrec", "tiger")}
  assert names == {"trialign": "trialign_reg", "macrec": "macrec_reg", "tiger": "tiger_reg"}
  expected = {"trialign": TRIALIGN, "macrec": MACREC, "tiger": ["seqrec"]}
  for method, mixture_name in names.items():
    mixture = seqio.get_mixture_or_task(mixture_name)
    assert sorted(t.name for t in mixture.tasks) == sorted(f"{method}_reg_{t}" for t in expected[method])
    assert {mixture.get_rate(t) for t in mixture.tasks} == {1.0}
    for t in mixture.tasks:
      assert set(t.splits) == {"train", "validation", "test"}
  assert gr_jax_tasks.seqrec_task_names("macrec") == ["seqrec_text", "seqrec_image"]
  assert gr_jax_tasks.seqrec_modalities("macrec") == {"seqrec_text": "text", "seqrec_image": "image"}
  assert gr_jax_tasks.seqrec_task_names("trialign") == ["seqrec"]
  assert gr_jax_tasks.seqrec_task_names("tiger") == ["seqrec"]
  assert registry.dataset_config("macrec_reg").tokenizer_run == "macrec"


def test_seqrec_splits_follow_leave_one_out(ds, sids):
  data_dir, seqs = ds
  gr_jax_tasks.register_dataset("loo", data_dir, prompt_variants=False)
  fused = sids["trialign"]["fused"]
  for split in ("train", "validation", "test"):
    got = [(e["user_id"], e["inputs"], e["targets"], e["target_item_id"])
           for e in ex("trialign_loo_seqrec", split)]
    want = []
    for user, items in seqs.items():
      train, valid, test = testing.leave_one_out(user, items)
      chosen = {"train": train, "validation": [valid], "test": [test]}[split]
      for e in chosen:
        inputs = prompts.format_input("seqrec", {"history_sids": [fused[i] for i in e.history]})
        want.append((user, inputs, fused[e.target], e.target))
    assert got == want
  assert all(e["task"] == "seqrec" for e in ex("trialign_loo_seqrec", "train"))
  titles = [e["targets"] for e in ex("trialign_loo_seqrec_title", "test")]
  assert titles[0].startswith(("Red", "Blue", "Compact", "Digital", "Heavy", "Ceramic", "Wireless",
                               "Steel", "Glass", "Mini"))


def test_no_leakage_of_validation_or_test_targets(ds, sids):
  data_dir, seqs = ds
  for method in ("trialign", "macrec", "tiger"):
    mixture = gr_jax_tasks.register_dataset("leak", data_dir, method=method)
    all_sids = {s for table in sids[method].values() for s in table.values()}
    for task in seqio.get_mixture_or_task(mixture).tasks:
      train = ex(task.name, "train")
      for e in train:
        if e["user_id"]:  # Sequential task: only items[:-2] of that user.
          items = seqs[e["user_id"]]
          held_out = items[-2:]
          assert e["target_item_id"] not in held_out
          for mod in sids[method].values():
            for item in held_out:
              assert mod[item] not in e["inputs"] and mod[item] != e["targets"]
        else:  # Item-level task: at most one item, no history.
          assert len(SID_RE.findall(e["inputs"])) <= 1
          found = SID_RE.findall(e["inputs"]) + SID_RE.findall(e["targets"])
          assert all(s in all_sids for s in found)
          assert e["target_item_id"] in sids[method][next(iter(sids[method]))]


def test_seqrec_targets_are_catalog_items(ds, sids):
  data_dir, _ = ds
  with open(os.path.join(data_dir, "items.jsonl"), encoding="utf-8") as f:
    catalog = {json.loads(line)["item_id"] for line in f}
  for method in ("trialign", "macrec", "tiger"):
    gr_jax_tasks.register_dataset("cat", data_dir, method=method)
    for task, mod in gr_jax_tasks.seqrec_modalities(method).items():
      by_sid = {s: i for i, s in sids[method][mod].items()}
      for split in ("train", "validation", "test"):
        for e in ex(f"{method}_cat_{task}", split):
          assert by_sid[e["targets"]] == e["target_item_id"] and e["target_item_id"] in catalog


def test_item_level_tasks(ds, sids):
  data_dir, _ = ds
  gr_jax_tasks.register_dataset("item", data_dir, prompt_variants=False, item_eval_size=7)
  fused = sids["trialign"]["fused"]
  n_items = len(fused)
  title2sid = ex("trialign_item_title2sid", "train")
  assert len(title2sid) == n_items and all(e["targets"] == fused[e["target_item_id"]] for e in title2sid)
  assert len(ex("trialign_item_visdesc2sid", "train")) == 5  # Captioned items only.
  assert len(ex("trialign_item_sid2interest", "train")) == 20
  assert ex("trialign_item_sid2interest", "train")[0]["targets"].endswith(", home science")
  assert len(ex("trialign_item_content2sid", "train")) == n_items  # Descriptions suffice.
  valid = ex("trialign_item_sid2title", "validation")
  assert len(valid) == 7 and all(e["inputs"] == prompts.format_input(
      "sid2title", {"sid": fused[e["target_item_id"]]}) for e in valid)
  gr_jax_tasks.register_dataset("item", data_dir, method="macrec")
  text, image = sids["macrec"]["text"], sids["macrec"]["image"]
  for e in ex("macrec_item_text2image", "train"):
    assert text[e["target_item_id"]] in e["inputs"] and e["targets"] == image[e["target_item_id"]]
  for e in ex("macrec_item_text_hist2image", "train"):
    assert e["targets"] == image[e["target_item_id"]] and "<A_" not in e["inputs"]
  for e in ex("macrec_item_image_hist2text", "train"):
    assert e["targets"] == text[e["target_item_id"]] and "<a_" not in e["inputs"]


def test_max_history_caps_inputs(ds):
  gr_jax_tasks.register_dataset("short", ds[0], max_history=3)
  for split in ("train", "test"):
    counts = [len(re.findall(r"<a_\d+>", e["inputs"])) for e in ex("trialign_short_seqrec", split)]
    assert max(counts) == 3 and min(counts) == (1 if split == "train" else 3)


def test_drop_tasks_and_bad_arguments(ds):
  mixture = gr_jax_tasks.register_dataset("drop", ds[0], drop_tasks=("visdesc2sid", "visdesc2title"))
  assert len(seqio.get_mixture_or_task(mixture).tasks) == 6
  assert "trialign_drop_visdesc2sid" not in seqio.TaskRegistry.names()
  with pytest.raises(ValueError, match="not trialign tasks"):
    gr_jax_tasks.register_dataset("drop", ds[0], drop_tasks=("seqrec_text",))
  with pytest.raises(ValueError, match="caption_noise"):
    gr_jax_tasks.register_dataset("drop", ds[0], caption_noise=1.5)
  with pytest.raises(ValueError, match="unknown method"):
    gr_jax_tasks.register_dataset("drop", ds[0], method="p5")


def test_caption_noise_is_a_seeded_fraction_of_train_only(tmp_path):
  d = str(tmp_path)
  testing.make_dataset(d, n_users=4, n_shared_items=12)  # 20 items, all captioned.
  def wrong(name, split):
    view = sources.load_view(d, "trialign")
    out = []
    for e in ex(name, split):
      out.append(view.captions[e["target_item_id"]] not in e["inputs"])
    return out

  gr_jax_tasks.register_dataset("noisy", d, caption_noise=0.25, seed=3)
  flags = wrong("trialign_noisy_visdesc2title", "train")
  assert sum(flags) == 5 and len(flags) == 20  # round(0.25 * 20) captions swapped.
  assert not any(wrong("trialign_noisy_visdesc2title", "validation"))
  first = [e["inputs"] for e in ex("trialign_noisy_visdesc2sid", "train")]
  gr_jax_tasks.register_dataset("noisy", d, caption_noise=0.25, seed=3)
  assert [e["inputs"] for e in ex("trialign_noisy_visdesc2sid", "train")] == first
  gr_jax_tasks.register_dataset("noisy", d, caption_noise=0.25, seed=4)
  assert [e["inputs"] for e in ex("trialign_noisy_visdesc2sid", "train")] != first
  gr_jax_tasks.register_dataset("noisy", d, caption_noise=1.0)
  assert all(wrong("trialign_noisy_visdesc2sid", "train"))


def test_prompt_variants_sampled_in_train_and_off_switch(ds):
  gr_jax_tasks.register_dataset("pv", ds[0])
  train = ex("trialign_pv_seqrec", "train")
  canonical = prompts.TEMPLATES["seqrec"][0].split("{")[0]
  starts = collections.Counter(e["inputs"].startswith(canonical) for e in train)
  assert starts[True] and starts[False]  # Several phrasings in train.
  assert all(e["inputs"].startswith(canonical) for e in ex("trialign_pv_seqrec", "validation"))
  gr_jax_tasks.register_dataset("pv", ds[0], prompt_variants=False)
  assert all(e["inputs"].startswith(canonical) for e in ex("trialign_pv_seqrec", "train"))


def test_empty_tasks_are_left_out(tmp_path):
  d = str(tmp_path)
  testing.make_dataset(d, n_users=4, caption_items=0, interest_items=0)
  mixture = gr_jax_tasks.register_dataset("bare", d)
  names = {t.name for t in seqio.get_mixture_or_task(mixture).tasks}
  assert names == {f"trialign_bare_{t}" for t in
                   ("seqrec", "seqrec_title", "title2sid", "sid2title", "content2sid")}


def test_seqio_datasets_and_feature_converter(ds):
  mixture_name = gr_jax_tasks.register_dataset("tf", ds[0], build_vocab=True)
  mixture = seqio.get_mixture_or_task(mixture_name)
  vocab = gr_jax_tasks.vocabulary(mixture_name)
  lengths = {"inputs": 96, "targets": 24}
  task = seqio.get_mixture_or_task("trialign_tf_sid2title")
  rows = list(task.get_dataset(lengths, split="validation", shuffle=False).as_numpy_iterator())
  assert len(rows) == len(ex("trialign_tf_sid2title", "validation"))
  for row in rows:
    assert row["targets"][-1] == vocab.eos_id
    assert vocab.decode(row["targets"].tolist()) == row["targets_pretokenized"].decode()
    assert vocab.decode(row["inputs"].tolist()) == row["inputs_pretokenized"].decode()
    assert row["task"] == b"sid2title" and row["target_item_id"]
  sid_row = next(task.get_dataset(None, split="train", shuffle=False).as_numpy_iterator())
  sid_ids = vocab.sid_token_ids(SID_RE.findall(sid_row["inputs_pretokenized"].decode())[0])
  tokens = sid_row["inputs"].tolist()
  start = tokens.index(sid_ids[0])
  assert tokens[start:start + 3] == sid_ids  # Atomic SID tokens inside the prompt.

  converted = seqio.EncDecFeatureConverter(pack=False)(
      mixture.get_dataset(lengths, split="train", seed=0), lengths)
  batch = next(converted.batch(8).as_numpy_iterator())
  assert batch["encoder_input_tokens"].shape == (8, 96)
  assert batch["decoder_target_tokens"].shape == (8, 24)
  assert (batch["decoder_input_tokens"][:, 1:] == batch["decoder_target_tokens"][:, :-1]).all()
  assert set(batch) == {"encoder_input_tokens", "decoder_target_tokens", "decoder_input_tokens",
                        "decoder_loss_weights"}


def test_mixture_is_deterministic_by_seed_and_has_validation(ds):
  keep = ("seqrec", "sid2title")
  small = seqio.get_mixture_or_task(gr_jax_tasks.register_dataset(
      "det", ds[0], drop_tasks=[t for t in TRIALIGN if t not in keep]))
  lengths = {"inputs": 96, "targets": 24}

  def first(seed):
    rows = small.get_dataset(lengths, split="train", seed=seed, passthrough_features=["task"])
    return [(r["task"], r["inputs"].tolist()) for r in rows.take(30).as_numpy_iterator()]
  run = first(7)
  assert run == first(7) and run != first(8)
  assert {task for task, _ in run} == {b"seqrec", b"sid2title"}
  for task in small.tasks:  # Per-task validation (what the trainer reports task by task).
    valid = task.get_dataset(lengths, split="validation", shuffle=False)
    assert sum(1 for _ in valid) == len(ex(task.name, "validation")) > 0


def test_task_rates_override(ds):
  mixture = gr_jax_tasks.register_dataset("w", ds[0], method="macrec", task_rates={"seqrec_text": 3.0})
  rates = {t.name: seqio.get_mixture_or_task(mixture).get_rate(t)
           for t in seqio.get_mixture_or_task(mixture).tasks}
  assert rates["macrec_w_seqrec_text"] == 3.0 and rates["macrec_w_text2image"] == 1.0


def test_env_var_and_gin_registration(ds, monkeypatch):
  data_dir = ds[0]
  assert registry.parse_dataset_specs(f"a={data_dir}:macrec, b={data_dir}") == [
      {"name": "a", "data_dir": data_dir, "method": "macrec"},
      {"name": "b", "data_dir": data_dir, "method": "trialign"}]
  monkeypatch.setenv("GR_JAX_DATASETS", f"envds={data_dir}:tiger")
  monkeypatch.setenv("GR_JAX_DEMO_DIR", data_dir)
  gin.clear_config()
  gin.parse_config(f"gr_jax_tasks.configured_datasets.datasets = ['gin1={data_dir}:macrec']")
  try:
    names = gr_jax_tasks.register_configured()
  finally:
    gin.clear_config()
  assert names == ["trialign_demo", "macrec_demo", "tiger_demo", "tiger_envds", "macrec_gin1"]
  assert "macrec_gin1_image2text" in seqio.TaskRegistry.names()
  monkeypatch.setenv("GR_JAX_DATASETS", "broken=/nonexistent:tiger")
  monkeypatch.delenv("GR_JAX_DEMO_DIR")
  assert gr_jax_tasks.register_configured(raise_errors=False) == []
  with pytest.raises(FileNotFoundError):
    gr_jax_tasks.register_configured()


def test_examples_refresh_when_files_change(tmp_path):
  d = str(tmp_path)
  seqs = testing.make_dataset(d, n_users=3)
  gr_jax_tasks.register_dataset("fresh", d)
  before = len(ex("trialign_fresh_seqrec", "train"))
  seqs["u999"] = ["i000", "i001", "i002", "i003", "i004", "i005"]
  testing.write_splits(d, seqs)
  assert len(ex("trialign_fresh_seqrec", "train")) == before + 3


def test_host_shards_are_disjoint_whatever_the_seed(ds):
  gr_jax_tasks.register_dataset("shard", ds[0], method="tiger")
  task = seqio.get_mixture_or_task("tiger_shard_seqrec")
  shards = []
  for index, seed in ((0, 1), (1, 2), (2, None)):
    rows = task.get_dataset(None, split="train", seed=seed,
                            shard_info=seqio.ShardInfo(index=index, num_shards=3))
    shards.append([(r["user_id"], r["inputs_pretokenized"]) for r in rows.as_numpy_iterator()])
  everything = [(e["user_id"].encode(), e["inputs"].encode()) for e in ex("tiger_shard_seqrec", "train")]
  assert sorted(sum(shards, [])) == sorted(everything)
  assert max(len(s) for s in shards) - min(len(s) for s in shards) <= 1


def test_enrich_view_can_switch_captions_off(tmp_path):
  d = str(tmp_path)
  testing.make_dataset(d, n_users=3)
  assert "trialign_view_visdesc2sid" in {
      t.name for t in seqio.get_mixture_or_task(gr_jax_tasks.register_dataset("view", d)).tasks}
  enrich.write_view(d, {"captions": "off"})
  names = {t.name for t in seqio.get_mixture_or_task(gr_jax_tasks.register_dataset("view", d)).tasks}
  assert len(names) == 6 and "trialign_view_visdesc2sid" not in names
