"""Tests for gr_jax.partitioning and the sharded trainer on several (fake) devices and processes.

Runs that need 8 fake CPU devices or two processes go to subprocesses:
XLA_FLAGS must be set before jax is imported.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import types

import jax
import numpy as np
import pytest

from gr_jax import partitioning
from gr_jax import train
from gr_jax.data import layout

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
# Test-only XLA settings: less LLVM optimisation (the train step compiles about 2x faster).
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def subprocess_env(num_devices: int) -> dict:
  """Environment of a child JAX process on `num_devices` fake CPU devices (no inherited cluster)."""
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(("JAX_COORDINATOR", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID",
                              "GR_JAX_DISTRIBUTED"))}
  env.update(JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={num_devices} {FAST_COMPILE}",
             PYTHONPATH=os.pathsep.join([TESTS_DIR, REPO_ROOT, env.get("PYTHONPATH", "")]))
  return env


# ---- in-process: rules, data layout, batch placement --------------------------------------------
def test_standard_rules_shard_mlp_heads_vocab_over_model_and_fsdp_embed_over_data():
  rules = dict(partitioning.standard_logical_axis_rules())
  assert rules["mlp"] == rules["heads"] == rules["vocab"] == "model"
  assert rules["batch"] == "data" and rules["embed"] is None and rules["kv"] is None
  fsdp = dict(partitioning.standard_logical_axis_rules(parameter_partitioning_dims=2))
  assert fsdp["embed"] == "data"
  with pytest.raises(ValueError, match="must each be 1 or 2"):
    partitioning.standard_logical_axis_rules(activation_partitioning_dims=3)


def fake_mesh(process_grid):
  """A mesh stand-in whose devices are only `process_index` (rows: 'data', columns: 'model')."""
  devices = np.empty((len(process_grid), len(process_grid[0])), object)
  for i, row in enumerate(process_grid):
    for j, p in enumerate(row):
      devices[i, j] = types.SimpleNamespace(process_index=p)
  return types.SimpleNamespace(devices=devices)


def test_data_shard_per_process_layout():
  # 2 hosts x 2 devices, 'model' inside a host: each host feeds half the batch.
  grid = [[0, 0], [1, 1]]
  assert [partitioning.data_shard(fake_mesh(grid), p) for p in (0, 1)] == [(0, 2), (1, 2)]
  # 'model' spans both hosts (data=1): they are replicas and read the same rows.
  assert [partitioning.data_shard(fake_mesh([[0, 1]]), p) for p in (0, 1)] == [(0, 1), (0, 1)]
  # 4 hosts, model=2 across host pairs: two distinct slices.
  grid = [[0, 1], [2, 3]]
  assert [partitioning.data_shard(fake_mesh(grid), p) for p in range(4)] == \
      [(0, 2), (0, 2), (1, 2), (1, 2)]
  # One host on several 'data' rows, in any order: one slice made of its rows.
  grid = [[1, 1], [0, 0], [1, 1], [0, 0]]
  assert [partitioning.data_shard(fake_mesh(grid), p) for p in (0, 1)] == [(1, 2), (0, 2)]
  with pytest.raises(ValueError, match="overlap unevenly"):
    partitioning.data_shard(fake_mesh([[0, 0], [0, 1]]), 0)
  with pytest.raises(ValueError, match="no device in the mesh"):
    partitioning.data_shard(fake_mesh([[0, 0]]), 1)


def test_batches_placed_from_process_local_data_on_one_device():
  part = partitioning.Partitioner(devices=jax.devices()[:1])
  assert part.data_shard() == (0, 1) and part.local_batch_size(6) == 6
  rows = np.arange(12, dtype=np.int32).reshape(6, 2)
  batch = part.shard_batch({"x": rows})
  assert batch["x"].sharding.spec == jax.sharding.PartitionSpec("data", None)
  np.testing.assert_array_equal(np.asarray(batch["x"]), rows)
  step = part.shard_full(np.asarray(7, np.int32))
  assert step.shape == () and int(step) == 7 and step.sharding.is_fully_replicated
  np.testing.assert_array_equal(np.asarray(part.shard_full(rows)), rows)


def test_maybe_initialize_distributed_needs_the_environment(monkeypatch):
  for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID",
               "GR_JAX_DISTRIBUTED"):
    monkeypatch.delenv(name, raising=False)
  assert partitioning.maybe_initialize_distributed() is False
  assert jax.process_count() == 1


# ---- 8 fake devices: (data=4, model=2) vs 1 device ---------------------------------------------
@pytest.fixture(scope="module")
def mesh_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("mesh_run")
  proc = subprocess.run([sys.executable, os.path.join(TESTS_DIR, "sharded_train_check.py"),
                         str(out)], env=subprocess_env(8), cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-4000:]
  with open(out / "result.json", encoding="utf-8") as f:
    return json.load(f)


def test_mesh_4x2_loss_matches_one_device(mesh_run):
  assert mesh_run["devices"] == 8 and mesh_run["mesh_4x2"] == {"data": 4, "model": 2}
  one, mesh = np.asarray(mesh_run["loss_1"]), np.asarray(mesh_run["loss_4x2"])
  assert len(one) == len(mesh) == 4 and np.all(np.isfinite(mesh))
  np.testing.assert_allclose(mesh, one, rtol=0, atol=1e-5)
  assert one[-1] < one[0] - 0.2  # The runs really trained (same steps, same data).


def test_mesh_4x2_params_and_adam_moments_are_sharded_over_model(mesh_run):
  state = mesh_run["state_4x2"]
  wi = state["params/encoder/layers_0/mlp/wi_0/kernel"]  # ('embed', 'mlp') = [32, 64]
  assert wi["spec"] == [None, "model"] and wi["num_devices"] == 8
  assert wi["shard_shapes"] == [[32, 32], [32, 32]]  # Two distinct halves over 'model'.
  query = state["params/decoder/layers_0/self_attention/query/kernel"]  # ('embed', 'heads', 'kv')
  assert query["spec"] == [None, "model", None] and query["shard_shapes"] == [[32, 1, 16]] * 2
  embedding = state["params/token_embedder/embedding"]  # ('vocab', 'embed') = [384, 32]
  assert embedding["spec"] == ["model", None] and embedding["shard_shapes"] == [[192, 32]] * 2
  norm = state["params/encoder/encoder_norm/scale"]  # ('embed',): replicated
  assert norm["spec"] == [None] and norm["shard_shapes"] == [[32]]
  params = {k[len("params/"):]: v for k, v in state.items() if k.startswith("params/")}
  split = [k for k, v in params.items() if "model" in v["spec"]]
  # Every kernel, embedding and relative-position table of the 1+1-layer model is split;
  # only the RMSNorm scales ('embed' only) are replicated.
  assert len(split) == 22
  assert all(k.endswith("_norm/scale") for k in params if k not in split)
  for name, p in params.items():
    for moment in ("mu", "nu"):  # Adam state is sharded exactly like its parameter.
      assert state[f"opt_state/[1]/[0]/{moment}/{name}"]["spec"] == p["spec"], name
  assert state["step"]["spec"] == []
  ema = mesh_run["state_4x2_ema"]  # make_optimizer(ema_decay=...): the average too.
  for name, p in params.items():
    assert ema[f"opt_state/[1]/ema/{name}"]["spec"] == p["spec"], name
  assert ema["opt_state/[1]/count"]["spec"] == []


def test_fsdp_also_shards_embed_over_data(mesh_run):
  state = mesh_run["state_4x2_fsdp"]
  wi = state["params/encoder/layers_0/mlp/wi_0/kernel"]
  assert wi["spec"] == ["data", "model"] and wi["shard_shapes"] == [[8, 32]] * 8
  norm = state["params/encoder/encoder_norm/scale"]
  assert norm["spec"] == ["data"] and norm["shard_shapes"] == [[8]] * 4


def test_mesh_4x2_checkpoint_saved_from_sharded_params(mesh_run):
  saved = {base64.b64decode(k).decode(): json.loads(v)
           for k, v in mesh_run["checkpoint_sharding"].items()}
  wi = saved["encoder.layers_0.mlp.wi_0.kernel"]
  assert wi["shape"] == [4, 2] and wi["axis_names"] == ["data", "model"]
  assert wi["partition_spec"] == [None, "model"]
  assert saved["token_embedder.embedding"]["partition_spec"] == ["model", None]


# ---- two processes on 127.0.0.1 ------------------------------------------------------------------
def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def launch_training(work_dir, steps: int, devices_per_process: int, model_parallel: int,
                    num_processes: int = 2) -> list[tuple[subprocess.Popen, str]]:
  """Starts `python -m gr_jax.train` as `num_processes` JAX processes into work_dir/model.

  Their output goes to work_dir/process<i>.log (files, not pipes: a process
  blocked on a full pipe would stall the others inside a collective).
  """
  os.makedirs(work_dir, exist_ok=True)
  model_dir = os.path.join(work_dir, "model")
  port = free_port()
  flags = ["--gin_file=models/tiny.gin",
           "--gin.gr_jax.model.T5Config.num_encoder_layers=1",
           "--gin.gr_jax.model.T5Config.num_decoder_layers=1",
           f"--gin.gr_jax.train.train.model_dir='{model_dir}'",
           f"--gin.gr_jax.train.train.train_steps={steps}",
           "--gin.gr_jax.train.train.task_feature_lengths={'inputs': 16, 'targets': 10}",
           "--gin.gr_jax.train.train.mixture_or_task_name='gr_test_mix'",
           "--gin.gr_jax.train.train.task_modules=['train_testing_tasks']",
           "--gin.gr_jax.train.train.batch_size=8",
           f"--gin.gr_jax.train.train.log_period={steps}",
           f"--gin.gr_jax.train.train.eval_period={steps}",
           "--gin.gr_jax.train.train.eval_max_batches=1",
           f"--gin.gr_jax.train.train.checkpoint_period={steps}",
           "--gin.gr_jax.train.train.progress=False",
           "--gin.gr_jax.train.train.partitioner=@gr_jax.partitioning.Partitioner()",
           f"--gin.gr_jax.partitioning.Partitioner.model_parallel={model_parallel}"]
  launched = []
  for i in range(num_processes):
    env = subprocess_env(devices_per_process)
    if num_processes > 1:
      env.update(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                 JAX_NUM_PROCESSES=str(num_processes), JAX_PROCESS_ID=str(i))
    log = os.path.join(work_dir, f"process{i}.log")
    with open(log, "w", encoding="utf-8") as f:
      launched.append((subprocess.Popen([sys.executable, "-m", "gr_jax.train", *flags], env=env,
                                        cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT), log))
  return launched


def finish_training(launched, timeout: float = 400) -> list[dict]:
  """Waits for launched processes (killing them all if one fails); each one's final JSON line."""
  try:
    for p, _ in launched:
      p.wait(timeout=timeout)
  finally:
    for p, _ in launched:
      if p.poll() is None:
        p.kill()
        p.wait()
  summaries = []
  for p, log in launched:
    with open(log, encoding="utf-8") as f:
      lines = f.read().splitlines()
    assert p.returncode == 0, "\n".join(lines[-60:])
    summaries.append(json.loads([line for line in lines if line.startswith('{"loss"')][-1]))
  return summaries


def test_two_processes_train_and_write_one_checkpoint(tmp_path):
  steps = 4
  out = finish_training(launch_training(tmp_path, steps, devices_per_process=2,
                                        model_parallel=2))
  model_dir = tmp_path / "model"
  assert [s["process_index"] for s in out] == [0, 1]
  assert all(s["process_count"] == 2 and s["step"] == steps and not s["stopped"] for s in out)
  # Data-parallel over the two processes: the loss (a mean over both halves of the
  # batch) is one replicated value, reported identically by each process.
  assert np.isfinite(out[0]["loss"]) and out[0]["loss"] == out[1]["loss"]
  with open(model_dir / layout.RUN_INFO, encoding="utf-8") as f:
    info = json.load(f)
  assert info["mesh"] == {"data": 2, "model": 2} and info["num_devices"] == 4
  assert info["status"] == "done" and info["last_checkpoint"] == steps
  rows = [json.loads(line) for line in (model_dir / layout.METRICS_FILE).read_text().splitlines()]
  assert rows[0]["step"] == steps and rows[0]["train/loss"] == pytest.approx(out[0]["loss"])
  assert np.isfinite(rows[1]["valid/loss"])  # Eval batches gathered over both processes.
  ckpt = model_dir / layout.CHECKPOINT_DIR / str(steps)
  assert sorted(os.listdir(model_dir / layout.CHECKPOINT_DIR)) == [str(steps)]
  for item in ("params", "opt_state"):  # Each process wrote its own shards.
    assert {"ocdbt.process_0", "ocdbt.process_1"} <= set(os.listdir(ckpt / item))
  model, params, loaded = train.load_trained(str(model_dir))  # Restores on this one device.
  assert loaded["restored_step"] == steps and model.config.num_encoder_layers == 1
  kernel = params["encoder"]["layers_0"]["mlp"]["wi_0"]["kernel"]
  assert kernel.shape == (64, 128) and np.isfinite(kernel).all() and np.std(kernel) > 0


@pytest.mark.slow
def test_model_axis_across_processes_feeds_identical_rows(tmp_path):
  # One device per process and model=2: both processes hold the same 'data' rows, so
  # each reads the whole batch and the run equals one process with the two devices.
  steps = 4
  pair = launch_training(tmp_path / "across", steps, devices_per_process=1, model_parallel=2)
  one = launch_training(tmp_path / "single", steps, devices_per_process=2, model_parallel=2,
                        num_processes=1)  # Runs alongside the pair.
  try:
    across = finish_training(pair)
  finally:
    single = finish_training(one)
  assert across[0]["loss"] == across[1]["loss"]
  np.testing.assert_allclose(across[0]["loss"], single[0]["loss"], rtol=0, atol=1e-5)
