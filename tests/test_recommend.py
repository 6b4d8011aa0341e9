"""Tests of gr_jax.recommend and the `gr-jax recommend` / `gr-jax evaluate` commands."""

import json
import os
import sys

import numpy as np
import pytest

from gr_jax import cli
from gr_jax import recommend
from gr_jax import text_vocab as vocab_lib
from gr_jax.data import schema
from gr_jax_tasks import testing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import toy_seq2seq  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A tiny MACRec dataset + a copy-the-last-item stand-in model as `load_trained` returns it."""
  d = str(tmp_path_factory.mktemp("rec_ds"))
  testing.make_dataset(d, n_users=6, seq_len=(5, 6))
  vocab_dir = vocab_lib.build_vocabulary(d, "macrec", sp_vocab_size=200)
  vocab = vocab_lib.load_vocabulary(vocab_dir)
  model = toy_seq2seq.CopyLastItemModel(vocab.vocab_size, sid_length=4)
  run_info = {"data_dir": d, "dataset_name": "rec", "method": "macrec", "tokenizer_run": "macrec",
              "vocab_dir": vocab_dir, "task_feature_lengths": {"inputs": 128, "targets": 8}}
  return model, model.init(), run_info


@pytest.fixture
def fake_load(trained, monkeypatch):
  monkeypatch.setattr(recommend, "load_trained", lambda model_dir: trained)
  return trained


def test_encode_inputs_trims_then_appends_eos(trained):
  vocab = vocab_lib.load_vocabulary(trained[2]["vocab_dir"])
  ids = recommend.encode_inputs(vocab, ["Predict <a_1><b_0>", "x"], 4)
  assert ids.shape == (2, 4) and ids[0, -1] == 1 and ids[1, :].tolist().count(1) == 1
  assert recommend.decode_text(vocab, list(vocab.encode("blue lamp")) + [1, 5, 6]) == "blue lamp"


def test_recommend_puts_the_copied_item_first_in_both_modalities(fake_load):
  rec = recommend.Recommender.from_model_dir("unused", beam_size=6, top_k=3, batch_size=2,
                                             progress=False)
  assert set(rec.catalogs) == {"text", "image"}
  histories = [["i001", "i004"], ["i007"], ["i003", "i002", "i010"]]
  items, scores = rec.recommend(histories)
  assert items.shape == (3, 3)
  assert [rec.item_ids[i] for i in items[:, 0]] == ["i004", "i007", "i010"]
  assert (np.diff(scores, axis=1) <= 1e-6).all() and len({tuple(r) for r in items.tolist()}) == 3


def test_cli_prints_ids_titles_scores(fake_load, capsys):
  assert cli.main(["recommend", "--model_dir", "unused", "--history", "i001, i005", "-k", "3"]) == 0
  out = capsys.readouterr().out.splitlines()
  titles = {i.item_id: i.title for i in schema.read_items(fake_load[2]["data_dir"])}
  assert out[0].split()[:3] == ["rank", "item_id", "score"]
  assert len(out) == 4
  first = out[1].split(None, 3)
  assert first[0] == "1" and first[1] == "i005" and first[3] == titles["i005"]
  float(first[2])
  assert cli.main(["recommend", "--model_dir", "unused", "--history", "i005", "-k", "2",
                   "--json"]) == 0
  rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  assert [r["rank"] for r in rows] == [1, 2] and rows[0]["item_id"] == "i005"
  assert rows[0]["title"] == titles["i005"]


def test_cli_unknown_ids_are_a_clear_error(fake_load, capsys):
  assert cli.main(["recommend", "--model_dir", "unused", "--history", "i001,nope,zzz"]) == 2
  err = capsys.readouterr().err
  assert "unknown item ids" in err and "nope" in err and "zzz" in err and "items.jsonl" in err
  assert cli.main(["recommend", "--model_dir", "unused", "--history", " , "]) == 2


def test_cli_evaluate_writes_reports(fake_load, tmp_path, capsys):
  out = str(tmp_path / "ev")
  assert cli.main(["evaluate", "--model_dir", "unused", "--split", "test", "--out_dir", out,
                   "--beam_size", "4", "--top_k", "4", "--batch_size", "3", "--baselines",
                   "popularity", "--tsne", "none", "--max_gen_examples", "2"]) == 0
  report = json.load(open(os.path.join(out, "report.json")))
  assert {"macrec:ensemble", "popularity"} <= set(report["systems"])
  assert report["systems"]["macrec:ensemble"]["n"] == 6
  assert "| macrec:ensemble |" in capsys.readouterr().out
  assert os.path.exists(os.path.join(out, "report.md"))
  assert os.path.exists(os.path.join(out, "metric_vs_k.png"))


def test_compact_model_reads_the_most_recent_items_when_the_history_is_too_long(trained):
  """A model trained with compact_history gets SID-only inputs trimmed keep-recent: with room
  for two 4-level items, a 3-item history still ends with its last item (the prompt form would
  have kept the prompt and the oldest item instead)."""
  model, params, info = trained
  short = dict(info, task_feature_lengths={"inputs": 9, "targets": 8})
  compact = recommend.Recommender(model, params, dict(short, register_kwargs={"compact_history": True}),
                                  beam_size=4, top_k=2, batch_size=2, progress=False)
  prompt = recommend.Recommender(model, params, short, beam_size=4, top_k=2, batch_size=2,
                                 progress=False)
  assert compact.compact_history and not prompt.compact_history
  history = [["i001", "i004", "i007"]]
  text = compact.history_inputs("seqrec_text", history, "text")[0]
  assert text == "".join(compact.catalogs["text"].sid_strings[i] for i in history[0])
  enc = compact.encode([text], "seqrec_text")[0]
  assert [int(i) for i in enc if i] == compact.vocab.sid_token_ids(
      compact.catalogs["text"].sid_strings["i004"] + compact.catalogs["text"].sid_strings["i007"]) + [1]
  items, _ = compact.recommend(history)
  assert compact.item_ids[items[0, 0]] == "i007"
  items, _ = prompt.recommend(history)
  assert prompt.item_ids[items[0, 0]] != "i007"
