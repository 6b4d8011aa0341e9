"""Tests for gr_jax.train: loss goes down, files, resume position, non-finite stop, CLI + gin runs."""

import argparse
import json
import os
import sys

import gin
import jax
import numpy as np
import pytest

from gr_jax import io_utils
from gr_jax import train
from gr_jax import train_data
from gr_jax.data import layout
from gr_jax.model import t5

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_testing_tasks as tt  # pylint: disable=g-import-not-at-top,wrong-import-position

TINY = t5.T5Config(emb_dim=32, num_heads=2, head_dim=16, mlp_dim=64, num_encoder_layers=1,
                   num_decoder_layers=1, dropout_rate=0.0)


@pytest.fixture(scope="module", autouse=True)
def _xla_cache(tmp_path_factory):
  with tt.compilation_cache(tmp_path_factory.mktemp("xla_cache")):
    yield


@pytest.fixture(autouse=True)
def _clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def run(model_dir, steps, **kw):
  """train() on the byte-level copy/reverse mixture with a tiny T5."""
  args = dict(model_dir=str(model_dir), train_steps=steps, task_feature_lengths=tt.FEATURE_LENGTHS,
              mixture_or_task_name=tt.MIXTURE, batch_size=16, model_config=TINY, log_period=10,
              eval_period=0, checkpoint_period=10, progress=False, tensorboard=False)
  args.update(kw)
  return train.train(**args)


def metrics(model_dir):
  return [r for _, r in io_utils.read_jsonl(os.path.join(model_dir, layout.METRICS_FILE))]


def valid_loss(model, params, task):
  """Mean token loss of `params` on `task`'s validation batches, as the trainer logs it."""
  eval_sums, sums = jax.jit(model.eval_sums), None
  for b in train_data.eval_batches(task, tt.FEATURE_LENGTHS, 16, 8):
    s = jax.device_get(eval_sums(params, b))
    sums = s if sums is None else {k: sums[k] + s[k] for k in s}
  return sums["loss_sum"] / sums["weight_sum"]


def lr(value, warmup=5):
  gin.bind_parameter("gr_jax.train.make_optimizer.learning_rate", value)
  gin.bind_parameter("gr_jax.train.make_optimizer.warmup_steps", warmup)


LR = 3e-3


@pytest.fixture(scope="module")
def trained(tmp_path_factory, _xla_cache):
  gin.clear_config()
  lr(LR)
  model_dir = tmp_path_factory.mktemp("trained")
  summary = run(model_dir, 40, eval_period=40, tensorboard=True)
  gin.clear_config()
  return str(model_dir), summary


def test_loss_decreases_and_metrics_jsonl(trained):
  model_dir, summary = trained
  rows = [r for r in metrics(model_dir) if "train/loss" in r]
  assert [r["step"] for r in rows] == [10, 20, 30, 40]
  assert rows[-1]["train/loss"] < 0.7 * rows[0]["train/loss"]
  assert rows[-1]["train/accuracy"] > rows[0]["train/accuracy"]
  for r in rows:
    assert r["train/steps_per_s"] > 0 and r["train/num_tokens"] > 0
    assert r["train/learning_rate"] > 0 and np.isfinite(r["train/grad_norm"])
  valid = [r for r in metrics(model_dir) if "valid/loss" in r]
  assert len(valid) == 1 and valid[0]["step"] == 40
  assert set(valid[0]) >= {"valid/gr_test_copy/loss", "valid/gr_test_reverse/accuracy"}
  assert summary["step"] == 40 and not summary["stopped"]
  assert os.listdir(os.path.join(model_dir, train.TENSORBOARD_DIR))  # Event files.


def test_run_info_and_load_trained_round_trip(trained):
  model_dir, _ = trained
  with open(os.path.join(model_dir, layout.RUN_INFO)) as f:
    info = json.load(f)
  assert info["status"] == "done" and info["step"] == 40 and info["last_checkpoint"] == 40
  assert info["mixture"] == tt.MIXTURE and info["task_feature_lengths"] == tt.FEATURE_LENGTHS
  assert info["model_config"]["vocab_size"] == 384  # 259 byte ids rounded up to 128s.
  assert info["train_time_s"] > 0 and "make_optimizer.learning_rate = 0.003" in info["gin_config"]
  kept = sorted(int(s) for s in os.listdir(os.path.join(model_dir, layout.CHECKPOINT_DIR)))
  assert kept == [20, 30, 40]  # keep_checkpoints=3
  model, params, loaded = train.load_trained(model_dir)
  assert loaded["restored_step"] == 40 and model.config.emb_dim == 32
  # The restored parameters reproduce the validation loss the trainer logged at step 40.
  task = "gr_test_copy"
  loss = valid_loss(model, params, task)
  logged = [r for r in metrics(model_dir) if "valid/loss" in r][0][f"valid/{task}/loss"]
  np.testing.assert_allclose(loss, logged, rtol=1e-5)
  _, params20, _ = train.load_trained(model_dir, step=20)
  assert not np.allclose(params20["decoder"]["logits_dense"]["kernel"],
                         params["decoder"]["logits_dense"]["kernel"])


def test_resume_continues_from_checkpoint_with_same_data_position(trained, tmp_path):
  straight, _ = trained
  lr(LR)
  out = run(tmp_path, 40, eval_period=40, stop_at_step=25)  # "Killed" at 25: last checkpoint 20.
  assert out["stopped"] and out["step"] == 25
  with open(tmp_path / layout.RUN_INFO) as f:
    info = json.load(f)
  assert info["status"] == "running" and info["last_checkpoint"] == 20
  run(tmp_path, 40, eval_period=40)
  a, b = metrics(straight), metrics(tmp_path)
  # Steps 21-25 ran twice (lost with the kill); from the checkpoint on, the resumed run
  # sees the same batches in the same order: identical losses and parameters.
  assert [r["step"] for r in a] == [r["step"] for r in b] == [10, 20, 30, 40, 40]
  for want, got in zip(a, b):
    assert set(want) == set(got)
    for k in want:
      if "per_s" not in k:
        np.testing.assert_allclose(got[k], want[k], rtol=2e-5, err_msg=k)
  _, pa, _ = train.load_trained(straight)
  _, pb, _ = train.load_trained(str(tmp_path))
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), pa, pb)
  with open(tmp_path / layout.RUN_INFO) as f:
    info = json.load(f)
  assert info["status"] == "done" and info["step"] == 40


def test_non_finite_loss_stops_with_step_and_last_good_checkpoint(tmp_path):
  lr(1e9, warmup=0)  # No clipping: the first updates explode the weights.
  gin.bind_parameter("gr_jax.train.make_optimizer.clip_norm", None)
  gin.bind_parameter("gr_jax.train.make_optimizer.schedule", "constant")
  with pytest.raises(train.NonFiniteLossError) as err:
    run(tmp_path, 50, checkpoint_period=1)
  e = err.value
  assert e.step >= 2 and not np.isfinite(e.value)
  assert f"at step {e.step}" in str(e)
  assert f"last finite checkpoint is step {e.step - 1}" in str(e)
  kept = sorted(int(s) for s in os.listdir(tmp_path / layout.CHECKPOINT_DIR) if s.isdigit())
  assert kept[-1] == e.step - 1  # Nothing of the non-finite state was saved.
  _, params, _ = train.load_trained(str(tmp_path))
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(params))


def test_non_finite_loss_error_without_checkpoint():
  e = train.NonFiniteLossError(7, float("nan"), "/m/checkpoints", None)
  assert e.step == 7 and "at step 7" in str(e) and "no checkpoint was written" in str(e)


def test_make_optimizer_schedules():
  for schedule in ("constant", "cosine", "linear", "rsqrt"):
    _, sched = train.make_optimizer(100, learning_rate=1.0, warmup_steps=10, schedule=schedule)
    assert float(sched(0)) == 0.0 and abs(float(sched(10)) - 1.0) < 1e-6
    assert float(sched(5)) == pytest.approx(0.5)
  _, cos = train.make_optimizer(100, learning_rate=1.0, warmup_steps=10, schedule="cosine")
  assert float(cos(100)) == pytest.approx(0.0, abs=1e-6)
  with pytest.raises(ValueError, match="unknown schedule"):
    train.make_optimizer(10, schedule="step")


def test_train_parser_accepts_t5x_gin_flags():
  parser = argparse.ArgumentParser()
  train.add_arguments(parser)
  args = parser.parse_args(["--gin_file", "gin/gr_jax/tiger.gin", "--gin.TRAIN_STEPS=5",
                            "--gin.MODEL_DIR='/tmp/x'", "--gin", "SEED=3"])
  assert args.gin_file == ["gin/gr_jax/tiger.gin"]
  assert args.gin_bindings == ["TRAIN_STEPS=5", "MODEL_DIR='/tmp/x'", "SEED=3"]


def test_load_trained_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="not a trained model directory"):
    train.load_trained(str(tmp_path))
  (tmp_path / layout.RUN_INFO).write_text("{broken")
  with pytest.raises(io_utils.BadInputError, match="run_info.json"):
    train.load_trained(str(tmp_path))
  (tmp_path / layout.RUN_INFO).write_text(json.dumps({"model_config": {}}))
  with pytest.raises(io_utils.BadInputError, match="model_hparams"):
    train.load_trained(str(tmp_path))


# ---- fault probes (issue 20): nothing non-finite or corrupt is ever resumed or served ----------
def _truncate_tree(directory):
  """Halves every data file under `directory` (a checkpoint item cut short by a crash or a full disk)."""
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _kept_steps(model_dir):
  return sorted(int(s) for s in os.listdir(os.path.join(model_dir, layout.CHECKPOINT_DIR))
                if s.isdigit())


def test_exploding_update_is_never_saved_and_run_info_says_failed(tmp_path):
  # The probe: lr 1e30, no warmup, clipping on, a checkpoint every step. The loss at
  # step k is of the params before update k, so only a check of the saved state catches NaN.
  lr(1e30, warmup=0)
  gin.bind_parameter("gr_jax.train.make_optimizer.schedule", "constant")
  with pytest.raises(train.NonFiniteLossError) as err:
    run(tmp_path, 20, checkpoint_period=1)
  e = err.value
  kept = _kept_steps(tmp_path)
  assert e.last_good == (kept[-1] if kept else None)
  assert "last finite checkpoint" in str(e) or "no checkpoint was written" in str(e)
  for step in kept:  # Every checkpoint on disk is finite.
    _, params, _ = train.load_trained(str(tmp_path), step=step)
    assert train.tree_is_finite(params)
  info = io_utils.read_json(tmp_path / layout.RUN_INFO)
  assert info["status"] == "failed" and "NonFiniteLossError" in info["error"]
  # A rerun resumes from the checkpoint the message names (never from a NaN one).
  gin.clear_config()
  lr(LR)
  out = run(tmp_path, 20, checkpoint_period=1, stop_at_step=0)
  assert out["stopped"] and out["step"] == (e.last_good or 0)
  assert io_utils.read_json(tmp_path / layout.RUN_INFO)["status"] == "running"


def test_restore_latest_good_skips_truncated_and_non_finite_checkpoints(tmp_path, caplog):
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  ckpt = tmp_path / layout.CHECKPOINT_DIR
  manager = ocp.CheckpointManager(str(ckpt), options=ocp.CheckpointManagerOptions(create=True))
  trees = {1: np.full((3,), 1.0, np.float32), 2: np.full((3,), 2.0, np.float32),
           3: np.array([3.0, np.nan, 3.0], np.float32)}
  for step, w in trees.items():
    manager.save(step, args=ocp.args.Composite(params=ocp.args.StandardSave({"w": w}),
                                               opt_state=ocp.args.StandardSave({"m": w * 0})))
  manager.wait_until_finished()
  _truncate_tree(ckpt / "2" / "opt_state")  # Truncated optimizer state.
  restore = lambda at: dict(manager.restore(at, args=ocp.args.Composite(
      params=ocp.args.StandardRestore({"w": np.zeros(3, np.float32)}),
      opt_state=ocp.args.StandardRestore({"m": np.zeros(3, np.float32)}))).items())
  with caplog.at_level("WARNING"):
    step, restored = train._restore_latest_good(manager, restore)  # pylint: disable=protected-access
  assert step == 1 and np.array_equal(restored["params"]["w"], trees[1])
  assert sorted(os.listdir(tmp_path / train.REJECTED_DIR)) == ["2", "3"]
  assert manager.all_steps() == [1]
  assert "non-finite" in caplog.text and "step 2" in caplog.text
  manager.close()


def test_resume_falls_back_from_a_truncated_checkpoint(trained, tmp_path, caplog):
  import shutil  # pylint: disable=g-import-not-at-top
  src, _ = trained
  model_dir = tmp_path / "m"
  shutil.copytree(src, model_dir)
  _truncate_tree(model_dir / layout.CHECKPOINT_DIR / "40" / "opt_state")
  lr(LR)
  with caplog.at_level("WARNING"):
    out = run(model_dir, 40, eval_period=0, tensorboard=False)
  assert out["step"] == 40 and not out["stopped"]
  assert "step 40" in caplog.text and os.listdir(model_dir / train.REJECTED_DIR) == ["40"]
  assert _kept_steps(model_dir)[-1] == 40  # Steps 31-40 trained again and saved.


def test_load_trained_falls_back_from_corrupt_and_refuses_non_finite(trained, tmp_path, caplog):
  import shutil  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  src, _ = trained
  model_dir = tmp_path / "m"
  shutil.copytree(src, model_dir)
  _truncate_tree(model_dir / layout.CHECKPOINT_DIR / "40" / "params")
  with caplog.at_level("WARNING"):
    _, params, info = train.load_trained(str(model_dir))
  assert info["restored_step"] == 30 and "step 40" in caplog.text
  with pytest.raises(io_utils.StageError, match="step 40 cannot be read"):
    train.load_trained(str(model_dir), step=40)
  nan_params = jax.tree.map(lambda x: np.full_like(x, np.nan), params)
  manager = ocp.CheckpointManager(str(model_dir / layout.CHECKPOINT_DIR))
  manager.save(50, args=ocp.args.Composite(params=ocp.args.StandardSave(nan_params)))
  manager.wait_until_finished()
  manager.close()
  with pytest.raises(io_utils.StageError, match="step 50 contain NaN/Inf; refusing"):
    train.load_trained(str(model_dir))


def test_params_ema_is_the_debiased_average_of_the_parameters():
  import optax  # pylint: disable=g-import-not-at-top
  decay = 0.9
  tx = optax.chain(optax.sgd(0.5), train.params_ema(decay))
  params = {"w": jax.numpy.asarray([1.0, -2.0])}
  state = tx.init(params)
  assert train.ema_params(state, params) is None  # No step yet: nothing to average.
  seen = []
  for g in ([1.0, 1.0], [0.0, 2.0], [-4.0, 1.0]):
    updates, state = tx.update({"w": jax.numpy.asarray(g)}, state, params)
    params = optax.apply_updates(params, updates)
    seen.append(np.asarray(params["w"]))
  weights = np.asarray([decay ** (len(seen) - 1 - i) for i in range(len(seen))]) * (1 - decay)
  want = (weights[:, None] * np.stack(seen)).sum(0) / (1 - decay ** len(seen))
  np.testing.assert_allclose(train.ema_params(state, params)["w"], want, rtol=1e-6)
  np.testing.assert_allclose(updates["w"], -0.5 * np.asarray([-4.0, 1.0]))  # Updates unchanged.
  with pytest.raises(ValueError, match="ema_decay"):
    train.params_ema(1.0)


def test_ema_training_checkpoints_and_serves_the_average(trained, tmp_path):
  lr(LR)
  gin.bind_parameter("gr_jax.train.make_optimizer.ema_decay", 0.9)
  run(tmp_path, 20, eval_period=20)
  info = io_utils.read_json(os.path.join(tmp_path, layout.RUN_INFO))
  assert info["ema_decay"] == 0.9
  assert train.EMA_ITEM in os.listdir(os.path.join(tmp_path, layout.CHECKPOINT_DIR, "20"))
  model, averaged, loaded = train.load_trained(str(tmp_path))
  _, raw, raw_info = train.load_trained(str(tmp_path), use_ema=False)
  assert loaded["served_params"] == "ema" and raw_info["served_params"] == "raw"
  a, r = (p["decoder"]["logits_dense"]["kernel"] for p in (averaged, raw))
  assert a.shape == r.shape and not np.allclose(a, r)
  # The trainer's valid loss at step 20 is that of the averaged parameters.
  task = "gr_test_copy"
  loss = valid_loss(model, averaged, task)
  logged = [r for r in metrics(tmp_path) if "valid/loss" in r][0][f"valid/{task}/loss"]
  np.testing.assert_allclose(loss, logged, rtol=1e-5)
  # Without ema_decay nothing changes: the fixture's run keeps no average.
  _, _, plain = train.load_trained(trained[0])
  assert plain["served_params"] == "raw" and plain.get("ema_decay") is None


@pytest.mark.parametrize("gin_file,want", [("demo/tiger.gin", 0.998), ("demo/trialign.gin", 0.998),
                                           ("demo/macrec.gin", None), ("gr_jax/tiger.gin", None)])
def test_demo_configs_average_the_parameters_and_the_paper_configs_do_not(gin_file, want):
  train.parse_gin([gin_file], ["MODEL_DIR = '/tmp/m'", "DATA_DIR = '/tmp/d'", "DATASET_NAME = 'd'",
                              "TRAIN_STEPS = 10", "TASK_FEATURE_LENGTHS = {'inputs': 8, 'targets': 4}"])
  assert gin.query_parameter("gr_jax.train.make_optimizer.ema_decay") == want
  tx, _ = train.make_optimizer(10)
  assert getattr(train.ema_state(jax.eval_shape(tx.init, {"w": np.zeros(3)})), "decay",
                 None) == want


def test_ema_run_killed_and_resumed_ends_with_the_same_average(tmp_path):
  lr(LR)
  gin.bind_parameter("gr_jax.train.make_optimizer.ema_decay", 0.9)
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  run(straight, 20)
  assert run(resumed, 20, stop_at_step=15)["stopped"]  # Last checkpoint: step 10.
  run(resumed, 20)
  _, a, _ = train.load_trained(str(straight))
  _, b, info = train.load_trained(str(resumed))
  assert info["served_params"] == "ema" and info["restored_step"] == 20
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), a, b)
