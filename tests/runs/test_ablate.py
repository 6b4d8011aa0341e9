"""Tests of gr_jax.runs.ablate: the study plan, variant datasets and the report."""

import json
import os

import gin
import pytest
from PIL import Image

from gr_jax import gin_flags
from gr_jax import paths
from gr_jax.runs import ablate
from gr_jax.runs import pipeline
import gr_jax.train  # noqa: F401  (registers the configurables the gin files bind)


def demo_trialign_rates():
  """TASK_RATES as gin/demo/trialign.gin sets it."""
  text = open(os.path.join(paths.GIN_DIR, "demo", "trialign.gin")).read()
  line = next(l for l in text.splitlines() if l.startswith("TASK_RATES"))
  return eval(line.split("=", 1)[1].split("#")[0])  # pylint: disable=eval-used


def _arg(stage, flag):
  argv = list(stage.argv)
  return argv[argv.index(flag) + 1]


def test_task_study_adds_groups_incrementally_and_shares_the_full_run(tmp_path):
  plan = ablate.plan_ablation(str(tmp_path / "data"), str(tmp_path / "out"), ["tasks"],
                              pipeline.PROFILES["quick"], seed=3)
  labels = [v["label"] for v in plan.variants]
  assert labels[0] == "TriAlignGR (all 8 tasks)" and labels[1] == "SeqRec" and len(labels) == 5
  kept = []
  for v, (label, group) in zip(plan.variants[1:], ablate.TASK_GROUPS):
    kept += list(group)
    train = next(s for s in plan.stages if s.name == f"train:{v['name']}")
    # DROP_TASKS (gr_jax/train_defaults.gin) leaves the demo's other register_kwargs (MAX_HISTORY,
    # TASK_RATES) as the reference run has them.
    binding = next(a for a in train.argv if a.startswith("--gin.DROP_TASKS="))
    dropped = eval(binding.split("=", 1)[1])  # pylint: disable=eval-used
    assert sorted(dropped + kept) == sorted(ablate.TRIALIGN_TASKS) and not set(dropped) & set(kept)
    assert "--gin.SEED=3" in train.argv
  # Parsed as `gr-jax train` parses it, a variant keeps the demo's history length and task
  # rates; only the dropped tasks differ from the reference run.
  train = next(s for s in plan.stages if s.name == "train:tasks_1")
  argv = list(train.argv)
  gin.clear_config()
  try:
    gin_flags.parse_gin([argv[argv.index("--gin_file") + 1]],
                        [a[len("--gin."):] for a in argv if a.startswith("--gin.")])
    assert gin.query_parameter("%MAX_HISTORY") == 20  # gin/demo/trialign.gin: compact, 20 items.
    assert gin.query_parameter("%COMPACT_HISTORY") is True
    assert gin.query_parameter("%ENCODER_END_POSITIONS") == 64
    assert gin.query_parameter("%TASK_RATES") == demo_trialign_rates()
    assert gin.query_parameter("%DROP_TASKS") == list(ablate.TRIALIGN_TASKS[1:])
  finally:
    gin.clear_config()
  # One tokenizer run is shared by every task variant; names are unique.
  assert sum(s.name.startswith("tokenize:") for s in plan.stages) == 1
  assert len({s.name for s in plan.stages}) == len(plan.stages)


def test_view_studies_get_their_own_dataset_dirs_and_macrec_turns_losses_off(tmp_path):
  data, out = str(tmp_path / "data"), str(tmp_path / "out")
  plan = ablate.plan_ablation(data, out, ["captions", "noise", "macrec"], pipeline.PROFILES["quick"],
                              noise=0.25)
  names = {v["name"]: v for v in plan.variants}
  assert set(names) == {"trialign_full", "no_captions", "noise_0.25", "macrec_full", "macrec_nocon"}
  assert names["no_captions"]["data_dir"] == os.path.join(out, "variants", "no_captions")
  enrich = next(s for s in plan.stages if s.name == "enrich:noise_0.25")
  assert _arg(enrich, "--caption_noise") == "0.25"
  embed = next(s for s in plan.stages if s.name == "embed:no_captions")
  assert _arg(embed, "--captions") == "off"
  nocon = next(s for s in plan.stages if s.name == "tokenize:macrec_nocon")
  assert _arg(nocon, "--run") == "macrec_nocon"
  assert all(f"--gin.{b}" in nocon.argv for b in ablate.MACREC_NO_CONTRASTIVE)
  train = next(s for s in plan.stages if s.name == "train:macrec_nocon")
  assert "--gin.TOKENIZER_RUN='macrec_nocon'" in train.argv


def test_variant_dir_links_inputs_and_copies_caches(tmp_path):
  src = tmp_path / "data"
  (src / "splits").mkdir(parents=True)
  (src / "enrich").mkdir()
  (src / "items.jsonl").write_text('{"item_id": "a"}\n')
  (src / "enrich" / "captions.jsonl").write_text("clean\n")
  dst = ablate.make_variant_dir(str(src), str(tmp_path / "v"))
  assert os.path.islink(os.path.join(dst, "items.jsonl")) and os.path.islink(os.path.join(dst, "splits"))
  cap = os.path.join(dst, "enrich", "captions.jsonl")
  assert not os.path.islink(cap) and open(cap).read() == "clean\n"
  open(cap, "w").write("changed\n")  # Writing the variant never touches the source.
  assert (src / "enrich" / "captions.jsonl").read_text() == "clean\n"
  ablate.make_variant_dir(str(src), dst)  # Idempotent.


def test_report_from_evaluated_variants(tmp_path):
  out = str(tmp_path / "out")
  plan = ablate.plan_ablation(str(tmp_path / "data"), out, ["tasks"], pipeline.PROFILES["quick"])
  for i, v in enumerate(plan.variants):
    os.makedirs(os.path.join(v["model_dir"], "eval", "test"))
    m = {"HR@1": 0.01 * i, "HR@5": 0.02 * i, "HR@10": 0.03 * i, "NDCG@5": 0.015 * i, "NDCG@10": 0.02 * i}
    json.dump({"systems": {"trialign": m, "popularity": {"HR@10": 0.0}}},
              open(os.path.join(v["model_dir"], "eval", "test", "report.json"), "w"))
  rows = ablate._order(ablate.collect_rows(plan))  # pylint: disable=protected-access
  assert [r["study"] for r in rows] == ["tasks"] * 4 + ["reference"]
  assert rows[-1]["HR@10"] == 0.0 and rows[1]["HR@10"] == pytest.approx(0.06)
  table = ablate.write_report(out, rows, {"total": 1.0})
  assert "| SeqRec |" in table and "| TriAlignGR (all 8 tasks) |" in table
  for png in ("ablation.png", "task_progression.png"):
    with Image.open(os.path.join(out, png)) as img:
      assert img.format == "PNG"


def test_missing_embeddings_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="run gr-jax prepare"):
    ablate.run_ablation(str(tmp_path), str(tmp_path / "o"), ["tasks"], "quick")
