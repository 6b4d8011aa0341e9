"""Tests of gr_jax.runs.demo: the stage plan (the end-to-end run is in test_demo_end_to_end.py)."""

import os

import pytest

from gr_jax import paths
from gr_jax.runs import demo
from gr_jax.runs import pipeline


def test_stage_plan_runs_each_method_after_shared_data_stages(tmp_path):
  out = str(tmp_path)
  stages = demo.stages_for(out, pipeline.PROFILES["quick"], ["tiger", "macrec"], seed=7)
  names = [s.name for s in stages]
  assert names == ["prepare", "enrich", "embed", "ceiling", "tokenize:tiger", "tokenize:macrec",
                   "train:tiger", "evaluate:tiger", "train:macrec", "evaluate:macrec"]
  prep = list(stages[0].argv)
  assert prep[prep.index("--items") + 1] == "300" and prep[prep.index("--seed") + 1] == "7"
  # The ceilings are computed on the users the evaluations score.
  ceil = list(stages[3].argv)
  assert ceil[ceil.index("--max_users") + 1] == str(pipeline.PROFILES["quick"].eval_users)
  assert stages[3].produces == os.path.join(out, "data", "ceiling", "test.json")
  train = stages[6]
  assert f"--gin.MODEL_DIR='{os.path.join(out, 'runs', 'tiger')}'" in train.argv
  assert f"--gin.TRAIN_STEPS={pipeline.PROFILES['quick'].train_steps['tiger']}" in train.argv
  assert train.argv[train.argv.index("--gin_file") + 1] == "demo/tiger.gin"
  # Baselines are evaluated once, with the first method.
  ev = [list(s.argv) for s in stages if s.name.startswith("evaluate:")]
  assert ev[0][ev[0].index("--baselines") + 1] == "popularity,sasrec,markov"
  assert ev[1][ev[1].index("--baselines") + 1] == ""


def test_diagnose_stages_follow_the_evaluations_and_reuse_sasrec(tmp_path):
  out = str(tmp_path)
  stages = demo.stages_for(out, pipeline.PROFILES["quick"], ["tiger", "macrec"], seed=7,
                           diagnose=True)
  names = [s.name for s in stages]
  assert names[-2:] == ["diagnose:tiger", "diagnose:macrec"]
  assert names.index("evaluate:macrec") < names.index("diagnose:tiger")
  argv = list(stages[-1].argv)
  assert argv[argv.index("--baseline_cache") + 1] == os.path.join(out, "runs", "tiger", "eval", "test",
                                                                  "baselines")
  assert argv[argv.index("--max_users") + 1] == "200"
  assert stages[-1].produces == os.path.join(out, "runs", "macrec", "eval", "test", "diagnose",
                                             "diagnose.json")
  assert "diagnose:tiger" not in [s.name for s in demo.stages_for(out, pipeline.PROFILES["quick"],
                                                                  ["tiger"], seed=7)]


def test_every_gin_file_the_demo_names_exists(tmp_path):
  for stage in demo.stages_for(str(tmp_path), pipeline.PROFILES["full"], pipeline.METHODS, seed=0):
    if "--gin_file" in stage.argv:
      path = stage.argv[list(stage.argv).index("--gin_file") + 1]
      assert os.path.exists(os.path.join(paths.GIN_DIR, path)), f"{stage.name}: {path}"


def test_unknown_method_is_rejected():
  with pytest.raises(SystemExit, match="bert4rec"):
    pipeline.parse_methods("tiger,bert4rec")
  assert pipeline.parse_methods(" tiger , trialign") == ["tiger", "trialign"]


def test_collab_embed_runs_before_the_collaborative_trialign_tokenizer(tmp_path):
  # The demo's TriAlignGR tokenizer binds TokenizerConfig.collaborative = 'concat'; the
  # content-only demo tokenizers (and the ablations' TriAlignGR one) do not.
  assert pipeline.tokenizer_gin_is_collaborative(pipeline.DEMO_TOKENIZER_GIN["trialign"])
  for method in pipeline.METHODS:
    assert not pipeline.tokenizer_gin_is_collaborative(f"rqvae/demo_{method}.gin"), method
  out = str(tmp_path)
  stages = demo.stages_for(out, pipeline.PROFILES["full"], pipeline.METHODS, 0)
  names = [s.name for s in stages]
  assert names.index("embed") < names.index("collab-embed") < names.index("tokenize:trialign")
  tok = stages[names.index("tokenize:trialign")].argv
  assert tok[tok.index("--gin_file") + 1] == "rqvae/demo_trialign_collab.gin"
  assert "--run" not in tok  # Still DIR/tokenizer/trialign, which demo/trialign.gin reads.
  collab = stages[names.index("collab-embed")].argv
  assert collab[collab.index("--epochs") + 1] == "20"  # The profile's SASRec epochs.
  assert "collab-embed" not in [s.name for s in demo.stages_for(out, pipeline.PROFILES["quick"],
                                                                ["tiger", "macrec"], 0)]


def test_collaborative_binding_is_read_from_the_gin_text(tmp_path, monkeypatch):
  monkeypatch.setattr(pipeline.paths, "GIN_DIR", str(tmp_path))
  gin_file = tmp_path / "x.gin"
  gin_file.write_text("# TokenizerConfig.collaborative = 'concat'\n")
  assert not pipeline.tokenizer_gin_is_collaborative("x.gin")  # A comment binds nothing.
  gin_file.write_text("TokenizerConfig.collaborative = 'replace'\n")
  assert pipeline.tokenizer_gin_is_collaborative("x.gin")
  gin_file.write_text("TokenizerConfig.collaborative='concat'\n"
                      "TokenizerConfig.collaborative = \"none\"\n")
  assert not pipeline.tokenizer_gin_is_collaborative("x.gin")  # The last binding wins, as in gin.
