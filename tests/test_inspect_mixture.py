"""Tests for `gr-jax inspect-mixture`: rates, sizes, decoded pairs, length percentiles, PNG."""

import json
import math

import numpy as np
import pytest
import seqio
import tensorflow as tf
from PIL import Image

import gr_jax_tasks
from gr_jax import cli
from gr_jax import inspect_mixture
from gr_jax_tasks import registry
from gr_jax_tasks import testing


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("insp_ds"))
  testing.make_dataset(d, n_users=5, caption_items=4)
  return d


def test_cli_reports_rates_sizes_examples_and_lengths(data_dir, tmp_path, capsys):
  png, js = str(tmp_path / "h.png"), str(tmp_path / "s.json")
  rc = cli.main(["inspect-mixture", "--data", data_dir, "--name", "insp", "-n", "2", "--plot", png,
                 "--json", js, "--max_length_examples", "500"])
  out = capsys.readouterr().out
  assert rc == 0
  with open(js, encoding="utf-8") as f:
    stats = json.load(f)
  assert stats["name"] == "trialign_insp" and len(stats["tasks"]) == 8
  cfg = registry.dataset_config("trialign_insp")
  vocab = gr_jax_tasks.vocabulary("trialign_insp")
  for task in registry.task_names("trialign"):
    info = stats["tasks"][f"trialign_insp_{task}"]
    examples = registry.examples(cfg, task, "train")
    assert info["rate"] == pytest.approx(1 / 8)
    assert info["size"] == len(examples)
    assert f"trialign_insp_{task}" in out and "12.50%" in out
    # Decoded pairs are the first examples, untrimmed.
    assert [p["inputs"] for p in info["examples"]] == [e["inputs"] for e in examples[:2]]
    assert [p["targets"] for p in info["examples"]] == [e["targets"] for e in examples[:2]]
    # Percentiles over every example (size < 500), lengths include EOS.
    for feature in ("inputs", "targets"):
      lengths = [len(vocab.encode(e[feature])) + 1 for e in examples]
      assert info["lengths"][feature]["p50"] == math.ceil(np.percentile(lengths, 50))
      assert info["lengths"][feature]["p100"] == max(lengths)
  for feature in ("inputs", "targets"):
    p99 = max(i["lengths"][feature]["p99"] for i in stats["tasks"].values())
    assert stats["suggested_feature_lengths"][feature] == 8 * math.ceil(p99 / 8)
  assert "Suggested TASK_FEATURE_LENGTHS" in out
  with Image.open(png) as img:
    assert img.format == "PNG" and img.size[0] > 500


def test_any_seqio_mixture_and_unknown_name(tmp_path, capsys):
  vocab = seqio.ByteVocabulary()

  def dataset_fn(split, shuffle_files, seed=None):
    del split, shuffle_files, seed
    return tf.data.Dataset.from_tensor_slices({"targets": ["ab", "abcd", "abcdef"]})

  seqio.TaskRegistry.remove("insp_plain_task")
  seqio.TaskRegistry.add(
      "insp_plain_task", source=seqio.FunctionDataSource(dataset_fn, splits=["train"]),
      preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
      output_features={"targets": seqio.Feature(vocab)})
  seqio.MixtureRegistry.remove("insp_plain")
  seqio.MixtureRegistry.add("insp_plain", [("insp_plain_task", 2.0)])
  stats = inspect_mixture.inspect("insp_plain", num_examples=1, log=lambda *_: None)
  info = stats["tasks"]["insp_plain_task"]
  assert info["size"] == 3 and info["rate"] == 1.0
  assert info["examples"] == [{"targets": "ab"}]
  assert info["lengths"]["targets"]["p100"] == 7 and stats["suggested_feature_lengths"] == {"targets": 8}
  png = inspect_mixture.plot_lengths(stats, str(tmp_path / "p.png"))
  with Image.open(png) as img:
    assert img.format == "PNG"
  assert cli.main(["inspect-mixture", "no_such_mixture"]) == 2
  assert "not registered" in capsys.readouterr().err
