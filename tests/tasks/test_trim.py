"""Tests for compact history inputs: gr_jax_tasks.prompts compact form and gr_jax_tasks.trim."""

import numpy as np
import pytest
import seqio

import gr_jax_tasks
from gr_jax import recommend
from gr_jax import text_vocab as vocab_lib
from gr_jax_tasks import prompts
from gr_jax_tasks import registry
from gr_jax_tasks import testing
from gr_jax_tasks import trim

STARTS = [(100, 110), (200, 210)]  # Two modalities' first-level ids.


def test_every_history_task_has_a_compact_form_and_markers_are_distinct():
  history_tasks = [t for t in prompts.TEMPLATES if prompts.takes_history(t)]
  assert sorted(history_tasks) == sorted(prompts.COMPACT_MARKERS)
  for method in registry.METHODS.values():  # Within a method, no two history tasks look alike.
    tasks = [t for t in method.TASKS if prompts.takes_history(t)]
    src = getattr(method, "MODALITIES", {})
    forms = {(src.get(t, ("",))[0], prompts.COMPACT_MARKERS[t]) for t in tasks}
    assert len(forms) == len(tasks), method
  assert prompts.format_compact_history("seqrec", ["<a_1><b_2>", "<a_3><b_4>"]) == "<a_1><b_2><a_3><b_4>"
  assert prompts.format_compact_history("seqrec_title", ["<a_1>"]) == "<a_1> title"
  with pytest.raises(KeyError, match="no compact form"):
    prompts.format_compact_history("title2sid", ["<a_1>"])


@pytest.mark.parametrize("ids,max_tokens,expected", [
    ([100, 1, 2, 101, 3, 4], 10, [100, 1, 2, 101, 3, 4]),   # Fits: unchanged.
    ([100, 1, 2, 101, 3, 4], 4, [101, 3, 4]),               # Cut inside item 1: starts at item 2.
    ([100, 1, 2, 101, 3, 4], 3, [101, 3, 4]),               # Cut exactly at an item start.
    ([100, 1, 2, 201, 3, 4, 7], 5, [201, 3, 4, 7]),         # Other modality's start; marker kept.
    ([100, 1, 2, 3, 4, 5], 3, [3, 4, 5]),                   # No start in the window: plain tail.
])
def test_keep_recent_ids(ids, max_tokens, expected):
  assert trim.keep_recent_ids(ids, max_tokens, STARTS) == expected


def test_seqio_preprocessor_matches_numpy_rule():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  rows = [rng.choice([100, 105, 201, 1, 2, 3, 7], size=n).astype(np.int32) for n in (0, 3, 9, 14)]
  starts = tf.constant(np.asarray(STARTS, np.int32))
  for max_tokens in (2, 5, 8):
    for row in rows:
      ds = tf.data.Dataset.from_tensors({"inputs": tf.constant(row, tf.int32)})
      got = next(iter(trim._trim_example(ds, max_tokens=max_tokens, starts=starts)))["inputs"]  # pylint: disable=protected-access
      assert got.numpy().tolist() == trim.keep_recent_ids(row, max_tokens, STARTS), (row, max_tokens)


@pytest.fixture(scope="module")
def compact_tiger(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("compact_ds"))
  testing.make_dataset(d, n_users=10, seq_len=(9, 12))
  name = gr_jax_tasks.register_dataset("compact", d, method="tiger", compact_history=True)
  return d, name


def test_compact_tasks_feed_recent_items_training_and_inference_alike(compact_tiger):
  d, name = compact_tiger
  task = seqio.get_mixture_or_task("tiger_compact_seqrec")
  vocab = registry.vocabulary(name)
  records = registry.examples(registry.dataset_config(task.name), "seqrec", "validation")
  assert all(r["inputs"].startswith("<") and ", " not in r["inputs"] for r in records)
  length = 11  # Room for 3 items of 3 levels (+ eos): longer histories are trimmed.
  ds = task.get_dataset(sequence_length={"inputs": length, "targets": 6}, split="validation",
                        shuffle=False)
  got = [ex["inputs"].numpy().tolist() for ex in ds]
  assert len(got) == len(records)
  expected = recommend.encode_inputs(vocab, [r["inputs"] for r in records], length, keep_recent=True)
  for row, exp, rec in zip(got, expected, records):
    full = list(vocab.encode(rec["inputs"]))
    assert row[-1] == vocab.eos_id and len(row) <= length
    assert row == [int(i) for i in exp if i][:len(row)]  # Training and inference trim alike.
    assert row[:-1] == full[len(full) - len(row) + 1:]  # A suffix of the history: the newest items.
    assert vocab.sid_level_ids("text", 0)[0] <= row[0] < vocab.sid_level_ids("text", 0)[1]
  assert any(len(vocab.encode(r["inputs"])) > length - 1 for r in records)  # Trimming happened.
  # The seqio default would have kept the oldest items instead.
  plain = recommend.encode_inputs(vocab, [records[0]["inputs"]], length)[0]
  assert [int(i) for i in plain if i][:-1] == list(vocab.encode(records[0]["inputs"]))[:length - 1]


def test_prompt_mode_is_unchanged_by_default(compact_tiger):
  d, _ = compact_tiger
  gr_jax_tasks.register_dataset("prompted", d, method="tiger")
  rec = registry.examples(registry.dataset_config("tiger_prompted"), "seqrec", "validation")[0]
  assert rec["inputs"].startswith("Predict the next item")
  assert isinstance(registry.vocabulary("tiger_prompted"), vocab_lib.GrVocabulary)
