"""Device mesh ('data', 'model'), logical-axis rules and sharding helpers (T5X PjitPartitioner style).

Parameters and activations carry logical axis names ('batch', 'embed', 'mlp',
'heads', 'kv', 'vocab', ...); `standard_logical_axis_rules` maps them to mesh
axes exactly like T5X, so the same model runs data-parallel, model-parallel,
FSDP (params' 'embed' axis over 'data') or on one device by changing the mesh.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Optional, Sequence

import flax.linen as nn
import gin
import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

MESH_AXES = ("data", "model")
LogicalRules = Sequence[tuple[str, Optional[str]]]
PyTree = Any


@gin.configurable(module="gr_jax.partitioning")
def standard_logical_axis_rules(activation_partitioning_dims: int = 1,
                                parameter_partitioning_dims: int = 1,
                                additional_rules: LogicalRules = ()) -> list[tuple[str, Optional[str]]]:
  """T5X's default logical -> mesh axis rules.

  parameter_partitioning_dims=2 also shards parameters' 'embed' axis over
  'data' (FSDP / ZeRO-3 style); activation_partitioning_dims=2 shards
  activations' 'embed' axis over 'model'.
  """
  if (activation_partitioning_dims, parameter_partitioning_dims) not in {(1, 1), (1, 2), (2, 1),
                                                                         (2, 2)}:
    raise ValueError("activation/parameter_partitioning_dims must each be 1 or 2, got "
                     f"{activation_partitioning_dims}/{parameter_partitioning_dims}")
  rules = [("batch", "data"), ("vocab", "model"), ("mlp", "model"), ("heads", "model"),
           ("kv", None), ("joined_kv", "model")]
  if activation_partitioning_dims == 2:
    rules.append(("embed", "model"))
  if parameter_partitioning_dims == 2:
    rules.append(("embed", "data"))
  if (activation_partitioning_dims, parameter_partitioning_dims) == (1, 1):
    rules.append(("embed", None))
  rules += [("relpos_buckets", None), ("abspos_buckets", None), ("length", None),
            ("layers", None), ("stack", None), ("mlp_activations", None)]
  return rules + list(additional_rules)


@gin.configurable(module="gr_jax.partitioning")
def create_mesh(model_parallel: int = 1, data_parallel: int = -1,
                devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """A ('data', 'model') mesh over `devices` (default: all); -1 = use the remaining devices.

  Model-parallel groups are consecutive devices (neighbours on a TPU slice or
  within a GPU host) via `jax.make_mesh` when all devices are used.
  """
  devices = list(jax.devices() if devices is None else devices)
  n = len(devices)
  if model_parallel == -1 and data_parallel == -1:
    raise ValueError("at most one of model_parallel / data_parallel may be -1")
  if model_parallel == -1:
    model_parallel = n // data_parallel
  if data_parallel == -1:
    data_parallel = n // model_parallel
  if data_parallel * model_parallel != n:
    raise ValueError(f"mesh data={data_parallel} x model={model_parallel} does not use the "
                     f"{n} devices exactly")
  if devices == list(jax.devices()):
    return jax.make_mesh((data_parallel, model_parallel), MESH_AXES, devices=devices,
                         axis_types=(jax.sharding.AxisType.Auto,) * 2)
  return Mesh(np.asarray(devices).reshape(data_parallel, model_parallel), MESH_AXES)


def maybe_initialize_distributed() -> bool:
  """Calls `jax.distributed.initialize` for multi-host runs; returns True if it did.

  Triggered by `GR_JAX_DISTRIBUTED=1` (auto-detection on Cloud TPU / SLURM /
  Open MPI) or by `JAX_COORDINATOR_ADDRESS` + `JAX_NUM_PROCESSES` +
  `JAX_PROCESS_ID` (explicit, e.g. several processes on one machine; CPU
  processes talk through gloo, jax's default CPU collectives). Must run
  before anything touches a JAX backend; a second call does nothing.
  """
  if jax.distributed.is_initialized():
    return False
  addr = os.environ.get("JAX_COORDINATOR_ADDRESS")
  if addr and os.environ.get("JAX_NUM_PROCESSES"):
    jax.distributed.initialize(coordinator_address=addr,
                               num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                               process_id=int(os.environ.get("JAX_PROCESS_ID", "0")))
  elif os.environ.get("GR_JAX_DISTRIBUTED") == "1":
    jax.distributed.initialize()
  else:
    return False
  logging.info("process %d of %d, %d local / %d global devices", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())
  return True


def data_shard(mesh: Mesh, process_index: Optional[int] = None) -> tuple[int, int]:
  """(index, count) of the slice of the global batch that a process feeds on `mesh`.

  A process feeds the batch rows of the 'data' mesh positions its devices sit
  on. Processes on the same positions (a 'model' axis spanning hosts) are
  replicas: they share an index and must read identical rows.
  """
  process_index = jax.process_index() if process_index is None else process_index
  positions: dict[int, set[int]] = {}
  for row, devices in enumerate(mesh.devices):
    for d in devices:
      positions.setdefault(d.process_index, set()).add(row)
  if process_index not in positions:
    raise ValueError(f"process {process_index} has no device in the mesh")
  groups = sorted({tuple(sorted(rows)) for rows in positions.values()})
  flat = [r for g in groups for r in g]
  if len(flat) != len(set(flat)) or len({len(g) for g in groups}) != 1:
    raise ValueError(f"processes overlap unevenly on the mesh 'data' axis (rows per process "
                     f"{groups}); use a mesh whose 'data' rows split evenly over processes")
  return groups.index(tuple(sorted(positions[process_index]))), len(groups)


@gin.configurable(module="gr_jax.partitioning")
class Partitioner:
  """Mesh + logical axis rules; turns logical names into `NamedSharding`s and places batches.

  Args:
    model_parallel: size of the 'model' mesh axis.
    data_parallel: size of the 'data' axis (-1: all remaining devices).
    fsdp: also shard parameters' 'embed' axis over 'data'.
    logical_axis_rules: overrides `standard_logical_axis_rules(...)`.
    devices: devices of the mesh (default: all).
  """

  def __init__(self, model_parallel: int = 1, data_parallel: int = -1, fsdp: bool = False,
               logical_axis_rules: Optional[LogicalRules] = None,
               devices: Optional[Sequence[jax.Device]] = None):
    self.mesh = create_mesh(model_parallel, data_parallel, devices)
    if logical_axis_rules is None:
      logical_axis_rules = standard_logical_axis_rules(
          parameter_partitioning_dims=2 if fsdp else 1)
    self.rules = [tuple(r) for r in logical_axis_rules]
    self._data_shard: Optional[tuple[int, int]] = None
    logging.info("mesh %s, rules %s", dict(self.mesh.shape), self.rules)

  @property
  def data_size(self) -> int:
    return self.mesh.shape["data"]

  @property
  def model_size(self) -> int:
    return self.mesh.shape["model"]

  @contextlib.contextmanager
  def context(self):
    """Mesh + axis rules in scope: activation constraints apply while tracing inside it."""
    with jax.set_mesh(self.mesh), nn.logical_axis_rules(self.rules):
      yield

  def sharding(self, spec: P) -> NamedSharding:
    return NamedSharding(self.mesh, spec)

  @property
  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, P())

  def logical_to_mesh(self, logical_spec: Sequence[Optional[str]]) -> P:
    """('batch', 'length') -> PartitionSpec('data', None) under this partitioner's rules."""
    return nn.logical_to_mesh_axes(tuple(logical_spec), self.rules)

  def boxed_shardings(self, boxed_tree: PyTree) -> PyTree:
    """NamedShardings for a tree with `nn.LogicallyPartitioned` leaves (unboxed structure)."""
    specs = nn.get_partition_spec(boxed_tree)
    return nn.logical_to_mesh_sharding(specs, self.mesh, self.rules)

  def data_sharding(self, ndim: int = 2) -> NamedSharding:
    """Leading (batch) axis over 'data', the rest replicated."""
    return NamedSharding(self.mesh, P("data", *([None] * (ndim - 1))))

  def data_shard(self) -> tuple[int, int]:
    """(index, count) of this process's slice of the global batch; see `data_shard()` above."""
    if self._data_shard is None:
      self._data_shard = data_shard(self.mesh)
    return self._data_shard

  def local_batch_size(self, global_batch_size: int) -> int:
    """Rows of the global batch this process feeds."""
    if global_batch_size % self.data_size:
      raise ValueError(f"batch size {global_batch_size} is not divisible by the mesh 'data' "
                       f"axis ({self.data_size})")
    return global_batch_size // self.data_shard()[1]

  def shard_batch(self, local_batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    """Global arrays (batch axis over 'data') from this process's rows of every feature."""
    shards = self.data_shard()[1]
    out = {}
    for k, v in local_batch.items():
      v = np.asarray(v)
      global_shape = (v.shape[0] * shards,) + v.shape[1:]
      out[k] = jax.make_array_from_process_local_data(self.data_sharding(v.ndim), v, global_shape)
    return out

  def shard_full(self, arr: np.ndarray) -> jax.Array:
    """A global array from a host array that every process holds in full.

    Rows go over 'data' when they divide evenly, else the array is replicated;
    each device receives only its slice.
    """
    arr = np.asarray(arr)
    sharding = self.data_sharding(arr.ndim) if arr.ndim and arr.shape[0] % self.data_size == 0 \
        else self.replicated
    return jax.make_array_from_process_local_data(sharding, arr, arr.shape)
