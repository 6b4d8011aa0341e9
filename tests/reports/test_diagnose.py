"""Tests of gr_jax.reports.diagnose on tiny models whose answers are known or hand-computed."""

import json
import os
import sys

import jax
import numpy as np
import pytest

from gr_jax import cli
from gr_jax import recommend
from gr_jax import text_vocab as vocab_lib
from gr_jax.baselines import sasrec
from gr_jax.reports import diagnose

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import toy_seq2seq  # pylint: disable=g-import-not-at-top,wrong-import-position


def _recommender(data_dir, model_fn, **kwargs):
  vocab_dir = vocab_lib.build_vocabulary(data_dir, "tiger", sp_vocab_size=200)
  vocab = vocab_lib.load_vocabulary(vocab_dir)
  model = model_fn(vocab.vocab_size)
  run_info = {"data_dir": data_dir, "dataset_name": "copy", "method": "tiger", "tokenizer_run": "tiger",
              "vocab_dir": vocab_dir, "task_feature_lengths": {"inputs": 128, "targets": 12}}
  kwargs.setdefault("progress", False)
  return recommend.Recommender(model, model.init(), run_info, **kwargs)


def _sid_len(data_dir):
  return len(next(iter(recommend.read_sid_strings(data_dir, "tiger").values())).popitem()[1].split("><"))


def test_copy_model_diagnosis_values(copy_dataset, tmp_path):
  length = _sid_len(copy_dataset)
  rec = _recommender(copy_dataset, lambda v: toy_seq2seq.CopyLastItemModel(v, length),
                     beam_size=6, top_k=5, batch_size=4)
  model_dir = str(tmp_path / "model")
  os.makedirs(model_dir)
  with open(os.path.join(model_dir, "metrics.jsonl"), "w") as f:
    f.write(json.dumps({"step": 100, "train/loss": 2.0}) + "\n")
    f.write(json.dumps({"step": 200, "train/loss": 1.5}) + "\n")
    f.write(json.dumps({"step": 200, "valid/loss": 1.7}) + "\n")
  out = str(tmp_path / "diag")
  report = diagnose.diagnose(rec, model_dir, "test", out_dir=out,
                             sasrec_config=sasrec.SASRecConfig(epochs=1, hidden=8, max_len=8,
                                                               num_blocks=1, dropout=0.0))
  diagnose.write(report, out)
  t = report["tasks"]["seqrec"]
  tf = t["teacher_forced"]
  # The copy model puts the last history item's SID first: right for the 5 even users, and for an
  # odd user only at levels where its target happens to share the last item's code.
  assert t["n"] == 10 and t["HR@5"]["value"] >= 0.5
  assert t["HR@5_oracle_first_level"]["value"] >= t["HR@5"]["value"]
  assert all(0.0 <= a <= 1.0 for a in tf["level_accuracy"] + tf["argmax_accuracy"])
  assert all(a >= 0.5 for a in tf["level_accuracy"])
  assert tf["all_levels_accuracy"] == pytest.approx(0.5)
  assert t["first_level_in_beam_after_step1"]["value"] >= t["first_level_top1"]["value"] >= 0.5
  p = t["HR@5"]["value"]
  assert t["HR@5"]["se"] == pytest.approx(np.sqrt(p * (1 - p) / 10))
  assert t["inputs_truncated"]["value"] == 0.0 and t["prompt_tokens"]["input_length"] == 128
  assert report["loss_curves"] == {"train": [[100, 2.0], [200, 1.5]], "valid": [[200, 1.7]]}
  assert set(report["systems"]) == {"tiger", "sasrec"}
  for m in report["systems"].values():
    assert 0.0 <= m["head_share"] <= 1.0 and 0.0 < m["coverage"] <= 1.0
    assert 0.0 <= m["recent_share"] <= m["history_share"] <= 1.0 and m["recent_items"] == 3
  # The copy model's first item is the last one of the history: at least 1 of every 5 slots.
  assert report["systems"]["tiger"]["recent_share"] >= 1 / 5 - 1e-9
  s = t["sid_structure"]
  assert s["items"] == len(rec.item_ids) and sum(s["items_per_first_code_counts"]) == s["items"]
  md = open(os.path.join(out, "diagnose.md")).read()
  assert "true first level" in md and "| sasrec |" in md and "slots on one of the last 3" in md
  for png in ("loss_curves.png", "diagnose.png", "items_per_code.png"):
    assert os.path.getsize(os.path.join(out, png)) > 1000
  assert json.load(open(os.path.join(out, "diagnose.json")))["num_users"] == 10


def test_truncated_prompts_are_counted(copy_dataset):
  length = _sid_len(copy_dataset)
  rec = _recommender(copy_dataset, lambda v: toy_seq2seq.CopyLastItemModel(v, length),
                     beam_size=4, top_k=4, batch_size=4)
  rec.input_length = 12  # Shorter than every seqrec prompt.
  report = diagnose.diagnose(rec, None, "test", baselines=())
  assert report["tasks"]["seqrec"]["inputs_truncated"]["value"] == 1.0
  assert report["tasks"]["seqrec"]["prompt_tokens"]["max"] > 12


def test_oracle_prefix_pins_the_first_level(copy_dataset):
  """With every first level forced to one code, every returned item starts with that code."""
  length = _sid_len(copy_dataset)
  rec = _recommender(copy_dataset, lambda v: toy_seq2seq.ToySeq2Seq(v), beam_size=4, top_k=4,
                     batch_size=4)
  cat = rec.catalogs["text"]
  code = int(cat.tokens_NxL[0, 0])
  texts = rec.history_inputs("seqrec", [["i000"], ["i001", "i002"], ["i003"]], "text")
  forced = np.full([3, length], -1, np.int32)
  forced[:, 0] = code
  items, _ = rec.decode_sids(texts, "text", forced_tokens=forced)
  row_of = {int(c): n for n, c in enumerate(cat.catalog_index)}
  firsts = {int(cat.tokens_NxL[row_of[int(i)], 0]) for i in items.ravel() if i >= 0}
  assert firsts == {code}
  plain, _ = rec.decode_sids(texts, "text")
  assert not np.array_equal(plain, items) or len(firsts) == 1


def test_teacher_forced_matches_a_hand_computation(copy_dataset):
  rec = _recommender(copy_dataset, lambda v: toy_seq2seq.ToySeq2Seq(v), batch_size=3)
  cat = rec.catalogs["text"]
  histories = [["i000", "i001"], ["i002"], ["i003", "i004", "i005"], ["i006"], ["i007"]]
  texts = rec.history_inputs("seqrec", histories, "text")
  sid = cat.tokens_NxL[[3, 5, 7, 9, 11]].astype(np.int32)
  tf = diagnose.teacher_forced(rec, texts, sid, "text")
  model, params = rec.model, rec.params
  enc = recommend.encode_inputs(rec.vocab, texts, rec.input_length)
  h = np.asarray(model._encode(params, jax.numpy.asarray(enc)))  # pylint: disable=protected-access
  prev = np.zeros(len(texts), np.int32)
  correct, level_correct, ranks = [], [], []
  for level in range(sid.shape[1]):
    h, logits = model._step(params, h, np.full(len(texts), level), prev)  # pylint: disable=protected-access
    logits = np.asarray(logits)
    allowed = np.unique(cat.tokens_NxL[:, level])
    correct.append(logits.argmax(1) == sid[:, level])
    level_correct.append(allowed[logits[:, allowed].argmax(1)] == sid[:, level])
    target = logits[np.arange(len(texts)), sid[:, level]]
    ranks.append((logits[:, allowed] > target[:, None]).sum(1))
    prev = sid[:, level]
  assert tf["argmax_accuracy"] == pytest.approx(np.mean(correct, 1).tolist())
  assert tf["level_accuracy"] == pytest.approx(np.mean(level_correct, 1).tolist())
  assert tf["first_level_rank"].tolist() == ranks[0].tolist()
  assert tf["all_levels_accuracy"] == pytest.approx(float(np.all(correct, 0).mean()))


def test_popularity_and_coverage_by_hand():
  items = [f"i{n}" for n in range(20)]  # Top 10 % = 2 items: i0 (5 plays), i1 (4 plays).
  train = {"u1": ["i0"] * 5 + ["i1"] * 4 + ["i2"] * 3, "u2": ["i3", "i4"]}
  preds = np.array([[0, 1, 2, 3], [0, 5, 6, -1]])
  stats = diagnose.popularity_stats(preds, train, items)
  assert stats["head_items"] == 2 and stats["slots"] == 7
  assert stats["head_share"] == pytest.approx(3 / 7)  # i0, i1, i0.
  assert stats["coverage"] == pytest.approx(6 / 20)  # {0, 1, 2, 3, 5, 6}.


def test_repeat_shares_by_hand():
  items = [f"i{n}" for n in range(10)]
  histories = [["i1", "i2", "i3", "i4"], ["i5"]]
  preds = np.array([[4, 1, 7, 3], [5, 6, -1, -1]])  # Row 0: i4, i3 recent, i1 older; row 1: i5.
  got = diagnose.repeat_shares(preds, histories, items)
  assert got == {"history_share": pytest.approx(4 / 6), "recent_share": pytest.approx(3 / 6),
                 "recent_items": 3}
  assert diagnose.repeat_shares(preds, histories, items, recent=1)["recent_share"] == pytest.approx(2 / 6)
  assert diagnose.repeat_shares(preds, histories, items, recent=0)["recent_share"] == 0.0
  with pytest.raises(ValueError, match="2 lists for 1 histories"):
    diagnose.repeat_shares(preds, histories[:1], items)


def test_sid_structure_by_hand():
  tokens = np.array([[1, 5, 9], [1, 5, 8], [1, 6, 9], [2, 5, 9], [3, 7, 7]])
  s = diagnose.sid_structure(tokens)
  assert s["first_level_codes"] == 3 and s["items_per_first_code"] == {"min": 1, "mean": 5 / 3, "max": 3}
  assert s["items_per_first_code_counts"] == [3, 1, 1]
  assert s["prefix_collisions"] == 2 and s["distinct_prefixes"] == 4


def test_hr_with_se():
  m = diagnose.hr_with_se([1, 0, 0, 1])
  assert m["value"] == 0.5 and m["se"] == pytest.approx(0.25) and m["n"] == 4


def test_cli_lists_diagnose(capsys):
  with pytest.raises(SystemExit):
    cli.main(["diagnose", "--help"])
  assert "--model_dir" in capsys.readouterr().out


def test_first_level_of_lists_counts_group_hits_separately_from_item_hits():
  """Items 0..3 in two first-level groups (codes 5, 6); targets have SIDs except item 9."""
  import types  # pylint: disable=g-import-not-at-top
  catalog = types.SimpleNamespace(catalog_index=np.array([0, 1, 2, 3]),
                                  tokens_NxL=np.array([[5, 0], [5, 1], [6, 0], [6, 1]]))
  lists = np.array([[1, 2], [2, 3], [0, -1], [3, 0]])
  targets = np.array([0, 0, 3, 9])  # user 3's target has no SID: left out.
  got = diagnose.first_level_of_lists(catalog, lists, targets)
  # user 0: top-1 item 1 shares group 5 with target 0 (no item hit, a group hit); user 1: group 5
  # not in [6, 6]; user 2: group 6 wanted, list [5, none] misses it.
  assert got["top1"]["value"] == pytest.approx(1 / 3) and got["top1"]["n"] == 3
  assert got["in_list"]["value"] == pytest.approx(1 / 3)
  assert got["distinct_in_list"] == pytest.approx((2 + 1 + 1) / 3)
