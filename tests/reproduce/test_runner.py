"""`gr-jax reproduce` end to end on a tiny MQL4GRec-format fixture, resume, and bad input."""

import json
import os
import subprocess
import sys
import time

import pytest

from gr_jax.reproduce import report
from gr_jax.reproduce import runner

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reproduce_fixtures  # pylint: disable=g-import-not-at-top,wrong-import-position

# A tiny T5 and beam so the generative row trains and ranks in seconds.
TINY = ("BATCH_SIZE=16", "BEAM_SIZE=10", "gr_jax.model.T5Config.num_encoder_layers=1",
        "gr_jax.model.T5Config.num_decoder_layers=1", "gr_jax.model.T5Config.emb_dim=32",
        "gr_jax.model.T5Config.mlp_dim=64", "gr_jax.model.T5Config.num_heads=2",
        "gr_jax.model.T5Config.head_dim=16", "ENCODER_END_POSITIONS=8")


def _opts(raw, out, **kw):
  base = dict(paper="macrec", dataset="Instruments", method="tiger", raw_dir=str(raw),
              out=str(out), allow_other_split=True, seeds=1, train_steps=2, curve_points=1,
              curve_users=20, gin_bindings=TINY)
  base.update(kw)
  return runner.Options(**base)


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "gr_jax.cli", "reproduce", *args],
                        capture_output=True, text=True, timeout=120)


def test_tiny_tiger_row_end_to_end_and_resume(tmp_path):
  raw = tmp_path / "raw"
  info = reproduce_fixtures.write_mql4grec(str(raw))
  out = tmp_path / "out"
  doc = runner.run(_opts(raw, out), log=lambda m: None)
  on_disk = json.loads((out / report.JSON).read_text())
  assert on_disk["complete"] and on_disk["metrics"] == json.loads(json.dumps(doc["metrics"]))
  assert doc["test_users"] == info["users"] and doc["split"]["items"] == info["items"]
  assert doc["split"]["mismatch"]  # The fixture is not MACRec's Table 1 split.
  hr = doc["metrics"]["HR@10"]
  assert hr["published"] == pytest.approx(0.1221)  # MACRec Table 2, Instruments, TIGER.
  assert hr["diff"] == pytest.approx(hr["ours"] - 0.1221)
  assert 0.0 <= hr["ci_users"][0] <= hr["ours"] <= hr["ci_users"][1] <= 1.0
  ranks = json.loads((out / "seed_0" / "test.json").read_text())
  assert len(ranks["ranks"]["seqrec"]) == info["users"]
  assert all(-1 <= r < 10 for r in ranks["ranks"]["seqrec"])
  b = doc["budget"]
  assert (b["train_steps"], b["batch_size"], b["examples_seen"]) == (2, 16, 32)
  assert b["scale"] == pytest.approx(32 / (200 * b["examples_per_epoch"]))
  assert doc["sid_info"]["report"]["text"]["items_sharing"] == 4
  curve = on_disk["curves"]["0"]
  assert [p["step"] for p in curve] == [2] and curve[0]["examples_seen"] == 32
  assert 0.0 <= curve[0]["valid_hr10"] <= 1.0 and curve[0]["users"] == 20
  assert (out / report.CURVE_PNG).stat().st_size > 1000
  md = (out / report.MD).read_text()
  assert "Not the paper's budget" in md and "0.1221" in md and "4 items share a SID" in md
  # A changed row says so: every --gin binding is listed (here the tiny model + recency embedding).
  assert "changed from the paper config" in md and "`--gin ENCODER_END_POSITIONS=8`" in md
  run_info = json.loads((out / "seed_0" / "model" / "run_info.json").read_text())
  assert run_info["model_config"]["encoder_end_positions"] == 8
  # A --sids ours row under --budget cpu states its tokenizer budget in bold.
  ours = dict(doc, sid_info={"kind": "ours", "gin": "rqvae/tiger.gin", "tokenizer_budget": {
      "steps": 2000, "config_steps": 12000, "config_epochs": 3000}})
  assert "**2000 of the 12000 RQ-VAE steps** its gin file's 3000 epochs give" in \
      report.markdown(ours)
  # Rerun: every stage is skipped, the report is the same.
  t = time.time()
  again = runner.run(_opts(raw, out), log=lambda m: None)
  assert time.time() - t < 15
  assert json.loads(json.dumps(again["metrics"])) == on_disk["metrics"]


def test_cpu_budget_caps_the_tokenizer_steps_unless_the_user_sets_them(tmp_path):
  macros = {"TOKENIZE_GIN": "rqvae/tiger.gin", "CPU_TOKENIZER_STEPS": 2000}
  cpu = _opts(tmp_path, tmp_path / "o", budget="cpu", sids="ours", gin_bindings=())
  assert runner.tokenizer_step_cap(cpu, macros) == 2000
  assert runner.tokenizer_step_cap(_opts(tmp_path, tmp_path / "o", sids="ours"), macros) is None
  for own in ("TokenizerConfig.epochs=30", "TokenizerConfig.max_steps = 50"):
    assert runner.tokenizer_step_cap(_opts(tmp_path, tmp_path / "o", budget="cpu",
                                           tokenize_gin=(own,)), macros) is None
  ds = runner.registry.dataset("trialign", "Scientific")
  method = runner.registry.method("trialign", "tiger")
  stages = runner._our_sid_stages(cpu, ds, method, str(tmp_path / "d"), macros)  # pylint: disable=protected-access
  tokenize = [s for s in stages if s.name == "tokenize"][0].argv
  assert "--gin.TokenizerConfig.max_steps=2000" in tokenize
  from gr_jax.reproduce import budget  # pylint: disable=g-import-not-at-top
  assert budget.read_macros(budget.gin_path("trialign", "trialign"))["CPU_TOKENIZER_STEPS"] == 2000
  # The budget a finished tokenizer reports: its steps vs those of its gin file's epochs.
  tok = tmp_path / "d" / "tokenizer" / "ours"
  tok.mkdir(parents=True)
  (tok / "config.json").write_text(json.dumps({
      "config": {"epochs": 3000, "batch_size": 1024, "max_steps": 2000},
      "input": {"n_items": 4385}, "steps": 2000}))
  assert runner.tokenizer_budget(str(tmp_path / "d"), "ours") == {
      "steps": 2000, "config_epochs": 3000, "max_steps": 2000, "config_steps": 12000}


def test_lcrec_split_with_letter_sids(tmp_path):
  """`--dataset Instruments_LCRec`: LC-Rec's inter.json + LETTER's index.json (duplicates kept)."""
  raw = tmp_path / "raw"
  info = reproduce_fixtures.write_mql4grec(str(raw))
  os.rename(raw / "Instruments.index_lemb.json", raw / "Instruments.index.json")
  os.remove(raw / "Instruments.index_vitemb.json")
  doc = runner.run(_opts(raw, tmp_path / "out", paper="trialign", dataset="Instruments_LCRec",
                         train_steps=1), log=lambda m: None)
  assert doc["test_users"] == info["users"] and doc["split"]["items"] == info["items"]
  assert doc["sid_info"]["report"]["text"]["items_sharing"] == 4
  assert doc["metrics"]["HR@10"]["published"] is None
  # --sids collab: no item text, so gr_jax's SIDs come from the collaborative embeddings alone.
  small = ("TokenizerConfig.epochs=20", "TokenizerConfig.codebook_sizes=(8, 8, 8)",
           "TokenizerConfig.batch_size=48")
  out = tmp_path / "collab"
  doc = runner.run(_opts(raw, out, paper="trialign", dataset="Instruments_LCRec", sids="collab",
                         train_steps=1, tokenize_gin=small), log=lambda m: None)
  assert doc["sid_info"]["kind"] == "collab" and doc["sid_info"]["collaborative"] == "replace"
  tok = json.loads((out / "data" / "tokenizer" / "collab" / "config.json").read_text())
  assert tok["config"]["collaborative"] == "replace" and tok["input"]["n_items"] == info["items"]
  assert (out / "data" / "embeddings" / "collab.npy").exists()
  assert not (out / "data" / "embeddings" / "text.npy").exists()  # No content embedded.
  assert doc["test_users"] == info["users"]
  assert "collaborative signal: `TokenizerConfig.collaborative = 'replace'`" in \
      (out / report.MD).read_text()
  with pytest.raises(runner.ReproduceError, match="--sids collab: Instruments_LCRec has no item"):
    runner.run(_opts(raw, tmp_path / "o3", paper="trialign", dataset="Instruments_LCRec",
                     sids="collab", method="trialign"), log=lambda m: None)
  os.remove(raw / "Instruments.index.json")
  with pytest.raises(runner.ReproduceError, match=r"Instruments.index.json: missing .*LETTER"):
    runner.run(_opts(raw, tmp_path / "o2", paper="trialign", dataset="Instruments_LCRec"),
               log=lambda m: None)


def test_bad_input_one_line_naming_flag_or_file(tmp_path):
  raw = tmp_path / "raw"
  reproduce_fixtures.write_mql4grec(str(raw))
  r = _cli("--paper", "macrec", "--dataset", "Beauty", "--method", "tiger", "--raw_dir",
           str(raw), "--out", str(tmp_path / "o1"))
  assert r.returncode == 2
  assert r.stderr.strip().splitlines()[-1].startswith("gr-jax reproduce: --dataset 'Beauty'")
  assert "Instruments, Arts, Games" in r.stderr
  os.remove(raw / "Instruments.index_vitemb.json")
  r = _cli("--paper", "macrec", "--dataset", "Instruments", "--method", "mql4grec",
           "--raw_dir", str(raw), "--out", str(tmp_path / "o2"))
  assert r.returncode == 2
  assert "Instruments.index_vitemb.json: missing" in r.stderr.strip().splitlines()[-1]
  assert not (tmp_path / "o2" / report.JSON).exists()
  r = _cli("--paper", "macrec", "--dataset", "Instruments", "--method", "bert4rec",
           "--raw_dir", str(raw), "--out", str(tmp_path / "o3"))
  assert r.returncode == 2 and "published only, not implemented in gr_jax: bert4rec" in r.stderr


def test_bad_sids_and_split_errors_leave_nothing_complete(tmp_path):
  raw = tmp_path / "raw"
  reproduce_fixtures.write_mql4grec(str(raw))
  index = json.loads((raw / "Instruments.index_lemb.json").read_text())
  del index["5"]
  (raw / "Instruments.index_lemb.json").write_text(json.dumps(index))
  out = tmp_path / "out"
  with pytest.raises(runner.ReproduceError, match=r"index_lemb.json field '5': 1 catalog items have no SID"):
    runner.run(_opts(raw, out), log=lambda m: None)
  assert not (out / report.JSON).exists()
  with pytest.raises(runner.ReproduceError, match=r"split differs from macrec's Table 1.*users 90 vs 17112"):
    runner.run(_opts(raw, tmp_path / "o2", allow_other_split=False), log=lambda m: None)
  with pytest.raises(runner.ReproduceError, match="MACRec's cross-modal SIDs were not published"):
    runner.run(_opts(raw, tmp_path / "o3", method="macrec"), log=lambda m: None)
  with pytest.raises(runner.ReproduceError, match=r"--out .* holds a run with other flags \(--method tiger"):
    runner.run(_opts(raw, out, method="mql4grec"), log=lambda m: None)


@pytest.mark.slow
def test_macrec_row_with_our_sids_from_the_peer_embeddings(tmp_path):
  raw = tmp_path / "raw"
  info = reproduce_fixtures.write_mql4grec(str(raw))
  reproduce_fixtures.write_mql4grec_embeddings(str(raw))
  out = tmp_path / "out"
  opts = _opts(raw, out, method="macrec", sids="ours", tokenize_gin=(
      "TokenizerConfig.epochs=30", "TokenizerConfig.codebook_sizes=(8, 8, 8, 8)",
      "TokenizerConfig.pseudo_label_k=8", "TokenizerConfig.batch_size=48"))
  doc = runner.run(opts, log=lambda m: None)
  assert doc["sid_info"]["kind"] == "ours" and doc["test_users"] == info["users"]
  sids = json.loads((out / "data" / "tokenizer" / "ours" / "sids.json").read_text())  # noqa
  assert set(sids["modalities"]) == {"text", "image"}
  assert set(doc["systems"]) == {"seqrec_text", "seqrec_image", "ensemble"}
  assert doc["metrics"]["HR@10"]["published"] == pytest.approx(0.1363)
