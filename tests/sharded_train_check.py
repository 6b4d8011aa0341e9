"""Runs the trainer on 8 fake CPU devices and writes what tests/test_partitioning.py asserts.

    python tests/sharded_train_check.py OUT_DIR

Trains the same tiny model on one device and on a (data=4, model=2) mesh,
and records per-step losses, the shardings of a freshly created sharded
TrainState (plain and FSDP) and the shardings orbax saved with the mesh run's
checkpoint, in OUT_DIR/result.json. A script, not a test: XLA_FLAGS must be
set before jax is imported.
"""

import json
import os
import sys

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                             + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# pylint: disable=g-import-not-at-top,wrong-import-position
import gin
import jax
import numpy as np

from gr_jax import io_utils
from gr_jax import partitioning
from gr_jax import train
from gr_jax.data import layout
from gr_jax.model import models
from gr_jax.model import t5

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_testing_tasks as tt

# Two heads and an even mlp/vocab, so the 'heads', 'mlp' and 'vocab' axes split over model=2.
TINY = t5.T5Config(emb_dim=32, num_heads=2, head_dim=16, mlp_dim=64, num_encoder_layers=1,
                   num_decoder_layers=1, dropout_rate=0.0, vocab_size=384)
STEPS = 4


def run(model_dir: str, partitioner: partitioning.Partitioner) -> list[float]:
  """Per-step training losses of a STEPS-step run."""
  gin.clear_config()
  gin.bind_parameter("gr_jax.train.make_optimizer.learning_rate", 3e-3)
  gin.bind_parameter("gr_jax.train.make_optimizer.warmup_steps", 2)
  train.train(model_dir=model_dir, train_steps=STEPS, task_feature_lengths=tt.FEATURE_LENGTHS,
              mixture_or_task_name=tt.MIXTURE, batch_size=16, model_config=TINY, log_period=1,
              eval_period=0, checkpoint_period=STEPS, progress=False, tensorboard=False,
              partitioner=partitioner)
  rows = [r for _, r in io_utils.read_jsonl(os.path.join(model_dir, layout.METRICS_FILE))]
  return [r["train/loss"] for r in rows]


def _spec(sharding) -> list:
  return [list(a) if isinstance(a, tuple) else a for a in sharding.spec]


def describe(arr: jax.Array) -> dict:
  """Spec, devices and the shapes of the distinct shards an array really holds.

  Also checks that every device's shard is its slice of the global value.
  """
  full = np.asarray(arr)  # Gathers the global value (one process: every shard is addressable).
  slices = {}
  for shard in arr.addressable_shards:
    key = tuple((s.start, s.stop) for s in shard.index)
    slices[str(key)] = list(shard.data.shape)
    np.testing.assert_array_equal(np.asarray(shard.data), full[shard.index])
  return {"spec": _spec(arr.sharding), "shape": list(arr.shape),
          "num_devices": len(arr.sharding.device_set), "shard_shapes": sorted(slices.values())}


def planned(shape, sharding) -> dict:
  """describe() of an array that `sharding` would place, without creating it."""
  slices = {str(tuple((s.start, s.stop) for s in idx)): list(sharding.shard_shape(shape))
            for idx in sharding.devices_indices_map(shape).values()}
  return {"spec": _spec(sharding), "shape": list(shape), "num_devices": len(sharding.device_set),
          "shard_shapes": sorted(slices.values())}


def state_shardings(partitioner: partitioning.Partitioner, materialize: bool = True,
                    ema_decay=None) -> dict:
  """describe() of every parameter and Adam moment of a TrainState created sharded.

  Without `materialize`, only the planned shardings (spec, devices, shard shapes).
  """
  model = models.EncoderDecoderModel(TINY)
  tx, _ = train.make_optimizer(STEPS, ema_decay=ema_decay)
  rng = jax.random.PRNGKey(0)
  abstract, shardings = train.train_state_shardings(model, tx, partitioner, tt.FEATURE_LENGTHS,
                                                    rng)
  if materialize:
    leaves = train.init_train_state(model, tx, partitioner, tt.FEATURE_LENGTHS, rng, shardings)
    leaves = jax.tree.map(describe, leaves)
  else:
    leaves = jax.tree.map(lambda a, s: planned(a.shape, s), abstract, shardings)
  return {"/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path): v
          for path, v in jax.tree_util.tree_leaves_with_path(
              leaves, is_leaf=lambda x: isinstance(x, dict) and "spec" in x)}


def main(out_dir: str) -> None:
  assert jax.device_count() == 8, jax.devices()
  one = partitioning.Partitioner(devices=jax.devices()[:1])
  mesh = partitioning.Partitioner(data_parallel=4, model_parallel=2)
  result = {"devices": jax.device_count(),
            "loss_1": run(os.path.join(out_dir, "one_device"), one),
            "loss_4x2": run(os.path.join(out_dir, "mesh_4x2"), mesh),
            "mesh_4x2": dict(mesh.mesh.shape), "data_shard": list(mesh.data_shard())}
  gin.clear_config()
  result["state_4x2"] = state_shardings(mesh)
  result["state_4x2_fsdp"] = state_shardings(
      partitioning.Partitioner(data_parallel=4, model_parallel=2, fsdp=True), materialize=False)
  result["state_4x2_ema"] = state_shardings(mesh, materialize=False, ema_decay=0.9)
  saved = os.path.join(out_dir, "mesh_4x2", layout.CHECKPOINT_DIR, str(STEPS), "params", "_sharding")
  with open(saved, encoding="utf-8") as f:
    result["checkpoint_sharding"] = json.load(f)
  with open(os.path.join(out_dir, "result.json"), "w", encoding="utf-8") as f:
    json.dump(result, f, indent=1)


if __name__ == "__main__":
  with tt.compilation_cache(os.path.join(sys.argv[1], "xla_cache")):  # Same init compiles once.
    main(sys.argv[1])
