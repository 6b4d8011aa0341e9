"""Gin-configured sharded trainer (T5X style): seqio mixture -> jitted train step -> orbax checkpoints.

    python -m gr_jax.train --gin_file=gin/gr_jax/tiger.gin \
      --gin.MODEL_DIR="'/tmp/tiger'" --gin.DATA_DIR="'/data/beauty'" \
      --gin.DATASET_NAME="'beauty'" --gin.TRAIN_STEPS=20000 \
      --gin.TASK_FEATURE_LENGTHS="{'inputs': 256, 'targets': 8}"

`gr-jax train` takes the same flags. MODEL_DIR receives `checkpoints/` (orbax;
a rerun resumes from the last one with the same data position),
`metrics.jsonl`, `tensorboard/` and `run_info.json` (read by `load_trained`).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import logging
import os
import sys
import time
from typing import Any, Callable, Mapping, Optional, Sequence

import flax
import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import tqdm
from clu import metric_writers

from gr_jax import flags
from gr_jax import gin_flags
from gr_jax import io_utils
from gr_jax import partitioning
from gr_jax import train_data
from gr_jax.data import layout
from gr_jax.model import models
from gr_jax.model import t5

TENSORBOARD_DIR = "tensorboard"
# `python -m gr_jax.train` runs this file as __main__ and then imports gr_jax.train for
# real; only that import registers the gin configurables (no duplicate registration).
_configurable = (lambda fn: fn) if __name__ == "__main__" else gin.configurable(module="gr_jax.train")


class NonFiniteLossError(io_utils.StageError):
  """The loss or the state became NaN/Inf; training stopped and nothing non-finite was saved."""

  def __init__(self, step: int, value: float, checkpoint_dir: str, last_good: Optional[int],
               what: str = "training loss"):
    self.step, self.value, self.last_good = step, value, last_good
    kept = f"the last finite checkpoint is step {last_good} in {checkpoint_dir}" if last_good \
        is not None else "no checkpoint was written"
    state = f"is {value}" if what == "training loss" else "has NaN/Inf values"
    super().__init__(f"{what} {state} at step {step}; stopped ({kept}). "
                     "Lower the learning rate, enable clipping or check the data.")


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


DECAY_MASKS = ("matrices", "hf_trainer", "all")
# Checkpoint item with the debiased parameter average (`make_optimizer(ema_decay=...)`).
EMA_ITEM = "ema_params"


def decay_mask_fn(kind: str):
  """AdamW weight-decay mask: params -> bool pytree (None: decay everything).

  "matrices": every parameter with ndim > 1 (not the RMSNorm scales);
  "hf_trainer": the Hugging Face Trainer's `get_decay_parameter_names` on T5, i.e.
  also not the relative position tables (their HF name contains "bias");
  "all": plain `torch.optim.AdamW(model.parameters(), weight_decay=...)`.
  """
  if kind == "all":
    return None
  if kind not in DECAY_MASKS:
    raise ValueError(f"unknown decay_mask {kind!r}; use one of {DECAY_MASKS}")

  def decays(path, p):
    names = [str(getattr(k, "key", k)) for k in path]
    return p.ndim > 1 and not (kind == "hf_trainer" and any("relpos_bias" in n for n in names))

  return lambda params: jax.tree_util.tree_map_with_path(decays, params)


class ParamsEMAState(flax.struct.PyTreeNode):
  """State of `params_ema`: `ema` (the zero-initialised average), `count` (updates seen)
  and the static `decay`."""
  count: jax.Array
  ema: Any
  decay: float = flax.struct.field(pytree_node=False)


def params_ema(decay: float) -> optax.GradientTransformation:
  """Tracks an exponential moving average of the *parameters* (Polyak averaging) in the
  optimizer state; the updates pass through unchanged. Chain it last.

  The average starts at zero and is read debiased (`ema / (1 - decay^count)`, as Adam's
  moments), so early steps do not pull it towards the random init. `ema_params` reads it.
  """
  if not 0.0 < decay < 1.0:
    raise ValueError(f"ema_decay must be in (0, 1), got {decay}")

  def init(params):
    return ParamsEMAState(count=jnp.zeros([], jnp.int32), decay=decay,
                          ema=jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params))

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("params_ema needs the params (tx.update(grads, state, params))")
    new = optax.apply_updates(params, updates)
    ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p.astype(jnp.float32),
                       state.ema, new)
    return updates, ParamsEMAState(count=state.count + 1, ema=ema, decay=decay)

  return optax.GradientTransformation(init, update)


def ema_state(opt_state) -> Optional[ParamsEMAState]:
  """The `ParamsEMAState` inside an optimizer state, or None when it keeps no average."""
  leaves = jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, ParamsEMAState))
  return next((s for s in leaves if isinstance(s, ParamsEMAState)), None)


def ema_params(opt_state, params) -> Optional[Any]:
  """The debiased parameter average kept by `params_ema` in `opt_state` (in the dtypes of
  `params`), or None when the optimizer keeps none or has taken no step yet (host side)."""
  state = ema_state(opt_state)
  if state is None or int(state.count) == 0:
    return None
  scale = 1.0 / (1.0 - state.decay ** state.count.astype(jnp.float32))
  return jax.tree.map(lambda e, p: (e * scale).astype(p.dtype), state.ema, params)


@_configurable
def make_optimizer(train_steps: int, learning_rate: float = 1e-3, schedule: str = "cosine",
                   warmup_steps: int = 100, final_learning_rate_factor: float = 0.0,
                   weight_decay: float = 0.01, b1: float = 0.9, b2: float = 0.999,
                   eps: float = 1e-8, clip_norm: Optional[float] = 1.0,
                   decay_mask: str = "matrices", ema_decay: Optional[float] = None):
  """AdamW with linear warmup then constant / cosine / linear / rsqrt.

  `decay_mask` (see `decay_mask_fn`): "matrices", "hf_trainer" or "all". `ema_decay`
  (e.g. 0.99) also keeps a moving average of the parameters (`params_ema`), which
  checkpoints save as `ema_params` and `load_trained` serves instead of the raw ones.
  Returns (optax transformation, learning-rate schedule).
  """
  lr, warmup = float(learning_rate), max(0, min(int(warmup_steps), int(train_steps) - 1))
  final = lr * final_learning_rate_factor
  decay_steps = max(1, int(train_steps) - warmup)
  if schedule == "constant":
    main = optax.constant_schedule(lr)
  elif schedule == "cosine":
    main = optax.cosine_decay_schedule(lr, decay_steps, alpha=final_learning_rate_factor)
  elif schedule == "linear":
    main = optax.linear_schedule(lr, final, decay_steps)
  elif schedule == "rsqrt":  # T5: lr * sqrt(warmup / step) after warmup.
    w = float(max(warmup, 1))
    main = lambda s: lr * jnp.sqrt(w / (jnp.maximum(s, 0) + w))
  else:
    raise ValueError(f"unknown schedule {schedule!r}; use constant, cosine, linear or rsqrt")
  sched = optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup]) \
      if warmup else main
  tx = optax.adamw(sched, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
                   mask=decay_mask_fn(decay_mask))
  if clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(clip_norm), tx)
  if ema_decay:
    tx = optax.chain(tx, params_ema(float(ema_decay)))
  return tx, sched


class JsonlWriter(metric_writers.MetricWriter):
  """clu writer appending {"step", metric: value, ...} lines to a JSONL file."""

  def __init__(self, path: str):
    self.path = path

  def write_scalars(self, step, scalars):
    io_utils.append_jsonl(self.path, {"step": int(step), **{k: float(v) for k, v in scalars.items()}})

  def write_summaries(self, step, values, metadata=None):
    del step, values, metadata

  def write_images(self, step, images):
    del step, images

  def write_videos(self, step, videos):
    del step, videos

  def write_audios(self, step, audios, *, sample_rate):
    del step, audios, sample_rate

  def write_texts(self, step, texts):
    del step, texts

  def write_histograms(self, step, arrays, num_buckets=None):
    del step, arrays, num_buckets

  def write_hparams(self, hparams):
    del hparams

  def flush(self):
    pass

  def close(self):
    pass


def _resolve_data(mixture_or_task_name, data_dir, dataset_name, method, tokenizer_run,
                  register_kwargs) -> dict:
  """Registers DATA_DIR's tasks (gr_jax_tasks) or takes a registered mixture; returns data info."""
  info = {"data_dir": None, "dataset_name": None, "method": method, "tokenizer_run": tokenizer_run}
  if data_dir:
    import gr_jax_tasks  # pylint: disable=g-import-not-at-top
    from gr_jax.data import schema  # pylint: disable=g-import-not-at-top
    schema.require_prepared(data_dir)
    data_dir = os.path.abspath(data_dir)
    dataset_name = dataset_name or os.path.basename(data_dir.rstrip("/"))
    tokenizer_run = tokenizer_run or method
    register_kwargs = dict(register_kwargs or {})
    mixture = gr_jax_tasks.register_dataset(dataset_name, data_dir, method,
                                            tokenizer_run=tokenizer_run, **register_kwargs)
    info.update(data_dir=data_dir, dataset_name=dataset_name, tokenizer_run=tokenizer_run,
                max_history=int(register_kwargs.get("max_history", layout.MAX_HISTORY)),
                register_kwargs=register_kwargs)
  elif mixture_or_task_name:
    mixture = mixture_or_task_name
  else:
    raise ValueError("set DATA_DIR (+ DATASET_NAME, method) or MIXTURE_OR_TASK_NAME")
  vocab = train_data.output_vocabulary(mixture)
  info.update(mixture=mixture, vocab_dir=getattr(vocab, "vocab_dir", None), vocabulary=vocab)
  return info


def _state_fns(model: models.EncoderDecoderModel, tx: optax.GradientTransformation,
               lengths: Mapping[str, int]):
  """(boxed params init, TrainState init) as functions of an rng key."""

  def init_boxed(rng):
    return model.init_boxed_params(rng, lengths["inputs"], lengths["targets"])

  def init_state(rng):
    params = nn.meta.unbox(init_boxed(rng))
    return TrainState(step=jnp.zeros([], jnp.int32), params=params, opt_state=tx.init(params))

  return init_boxed, init_state


def train_state_shardings(model: models.EncoderDecoderModel, tx: optax.GradientTransformation,
                          partitioner: partitioning.Partitioner, lengths: Mapping[str, int],
                          rng: jax.Array) -> tuple[TrainState, TrainState]:
  """(abstract TrainState, its NamedShardings); nothing is allocated.

  Params are sharded by their logical axis names, optimizer moments like
  their params, the step and other optimizer scalars are replicated.
  """
  init_boxed, init_state = _state_fns(model, tx, lengths)
  with partitioner.context():
    boxed = jax.eval_shape(init_boxed, rng)
    abstract = jax.eval_shape(init_state, rng)
  param_sh = partitioner.boxed_shardings(boxed)
  opt_sh = optax.tree_map_params(tx, lambda _, s: s, abstract.opt_state, param_sh,
                                 transform_non_params=lambda _: partitioner.replicated)
  return abstract, TrainState(step=partitioner.replicated, params=param_sh, opt_state=opt_sh)


def init_train_state(model: models.EncoderDecoderModel, tx: optax.GradientTransformation,
                     partitioner: partitioning.Partitioner, lengths: Mapping[str, int],
                     rng: jax.Array, shardings: TrainState) -> TrainState:
  """A fresh TrainState computed by one jitted init straight into `shardings`.

  Each device materialises only its own shards: no full copy on the host or
  on any one device.
  """
  _, init_state = _state_fns(model, tx, lengths)
  with partitioner.context():
    return jax.jit(init_state, out_shardings=shardings)(rng)


def make_train_step(model: models.EncoderDecoderModel, tx: optax.GradientTransformation,
                    lr_fn, dropout_rng: jax.Array):
  """`step(state, batch) -> (state, metrics)`: loss, gradients and one optimizer update (jit it)."""

  def train_step(state: TrainState, batch):
    rng = jax.random.fold_in(dropout_rng, state.step)
    (_, metrics), grads = jax.value_and_grad(model.loss_fn, has_aux=True)(state.params, batch, rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics, grad_norm=optax.global_norm(grads), learning_rate=lr_fn(state.step))
    return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return train_step


def _write_run_info(model_dir: str, info: dict) -> None:
  if jax.process_index() == 0:
    io_utils.atomic_write_json(os.path.join(model_dir, layout.RUN_INFO), info)


def _build_model(vocab, model_config: Optional[t5.T5Config]) -> models.EncoderDecoderModel:
  """The EncoderDecoderModel over `model_config`, its vocab_size taken from `vocab` when unset."""
  config = model_config or t5.T5Config()
  if not config.vocab_size:
    config = t5.T5Config.from_dict({**config.to_dict(),
                                    "vocab_size": train_data.padded_vocab_size(vocab)})
  elif config.vocab_size < vocab.vocab_size:
    raise ValueError(f"T5Config.vocab_size={config.vocab_size} < vocabulary size {vocab.vocab_size}")
  return models.EncoderDecoderModel(config=config, input_vocabulary=vocab, output_vocabulary=vocab)


def _alignment_pairs(model: models.EncoderDecoderModel, data: dict, vocab,
                     alignment_batch_size: int):
  """(AlignmentPairs, pairs per batch) for MACRec's alignment loss, or (None, 0) without it."""
  if not model.alignment_weight:
    return None, 0
  if not data["data_dir"]:
    raise ValueError("the alignment loss reads sids.json: set DATA_DIR")
  pairs = train_data.AlignmentPairs.from_sids_file(
      layout.sids_path(data["data_dir"], data["tokenizer_run"]), vocab)
  return pairs, min(alignment_batch_size, len(pairs))


def _checkpoint_manager(ckpt_dir: str, keep_checkpoints: int) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(ckpt_dir, options=ocp.CheckpointManagerOptions(
      max_to_keep=keep_checkpoints, create=True, enable_async_checkpointing=True))


REJECTED_DIR = "checkpoints_rejected"  # MODEL_DIR/<this>/<step>: checkpoints never resumed.


@jax.jit
def _all_finite(tree) -> jax.Array:
  """True when every float leaf of `tree` is finite (one fused reduction on device)."""
  leaves = [jnp.isfinite(x).all() for x in jax.tree.leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def tree_is_finite(tree) -> bool:
  """Whether a params / TrainState tree holds no NaN or Inf."""
  return bool(jax.device_get(_all_finite(tree)))


def _reject_checkpoint(manager: ocp.CheckpointManager, step: int, why: str) -> None:
  """Moves checkpoint `step` aside (MODEL_DIR/checkpoints_rejected/<step>) so it is never resumed."""
  ckpt_dir = str(manager.directory)
  src = os.path.join(ckpt_dir, str(step))
  dst = os.path.join(os.path.dirname(ckpt_dir.rstrip("/")), REJECTED_DIR, str(step))
  logging.warning("checkpoint step %d in %s is unusable (%s); moved to %s, falling back to the "
                  "previous step", step, ckpt_dir, why, dst)
  if jax.process_index() == 0 and os.path.isdir(src):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    base, n = dst, 1
    while os.path.exists(dst):
      dst, n = f"{base}.{n}", n + 1
    os.replace(src, dst)
  if jax.process_count() > 1:  # Every host sees the move before it re-lists the steps.
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(f"reject_checkpoint_{step}")
  manager.reload()


def _restore_latest_good(manager: ocp.CheckpointManager, restore_fn):
  """(step, restore_fn(step)) of the newest checkpoint that restores and is finite, else (None, None).

  `restore_fn(step)` returns a pytree. Corrupt (truncated, unreadable) or non-finite
  checkpoints are moved aside with a warning.
  """
  for step in sorted(manager.all_steps(), reverse=True):
    try:
      restored = restore_fn(step)
    except Exception as e:  # pylint: disable=broad-except  # orbax/tensorstore raise many kinds.
      _reject_checkpoint(manager, step, f"{type(e).__name__}: {str(e)[:200]}")
      continue
    if not tree_is_finite(restored):
      _reject_checkpoint(manager, step, "non-finite values")
      continue
    return step, restored
  return None, None


def _restore(manager: ocp.CheckpointManager, abstract: TrainState, state_sh,
             partitioner: partitioning.Partitioner, fresh: Callable[[], TrainState]):
  """(state, step): the newest good checkpoint restored into `state_sh`, else `fresh()` at step 0."""
  target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                        abstract, state_sh)
  start, restored = _restore_latest_good(manager, lambda at: dict(manager.restore(
      at, args=ocp.args.Composite(params=ocp.args.StandardRestore(target.params),
                                  opt_state=ocp.args.StandardRestore(target.opt_state))).items()))
  if start is None:
    return fresh(), None
  state = TrainState(step=partitioner.shard_full(np.asarray(start, np.int32)),
                     params=restored["params"], opt_state=restored["opt_state"])
  logging.info("resumed from %s step %d", manager.directory, start)
  return state, start


def _save(manager: ocp.CheckpointManager, step: int, state: TrainState) -> None:
  """Saves `state` unless it holds NaN/Inf (the loss checked at this step is of the params
  *before* this update, so only the state itself tells)."""
  if not tree_is_finite(state):
    manager.wait_until_finished()
    raise NonFiniteLossError(step, float("nan"), str(manager.directory), manager.latest_step(),
                             what="training state (params or optimizer)")
  items = dict(params=ocp.args.StandardSave(state.params),
               opt_state=ocp.args.StandardSave(state.opt_state))
  averaged = ema_params(state.opt_state, state.params)
  if averaged is not None:
    items[EMA_ITEM] = ocp.args.StandardSave(averaged)
  manager.save(step, args=ocp.args.Composite(**items))


def _check_finite(manager: ocp.CheckpointManager, ckpt_dir: str, at_step: int, loss) -> None:
  """Raises NonFiniteLossError (after pending checkpoint writes finish) on a NaN/inf loss."""
  value = float(loss)
  if not np.isfinite(value):
    manager.wait_until_finished()
    raise NonFiniteLossError(at_step, value, ckpt_dir, manager.latest_step())


def _make_evaluate(model: models.EncoderDecoderModel, partitioner: partitioning.Partitioner,
                   tasks: Sequence[str], lengths: Mapping[str, int], local_bs: int,
                   eval_max_batches: int) -> Callable[[Any], dict]:
  """`evaluate(params) -> {valid/<task>/loss, accuracy, sequence_accuracy, valid/loss}`."""
  p_eval = jax.jit(model.eval_sums, out_shardings=partitioner.replicated)
  eval_cache: dict[str, list] = {}

  def evaluate(params) -> dict:
    out, losses = {}, []
    for task in tasks:
      if task not in eval_cache:
        eval_cache[task] = train_data.eval_batches(task, lengths, local_bs, eval_max_batches,
                                                   shard=partitioner.data_shard())
      if not eval_cache[task]:
        continue
      sums = None
      with partitioner.context():
        for b in eval_cache[task]:
          s = p_eval(params, partitioner.shard_batch(b))
          sums = s if sums is None else jax.tree.map(jnp.add, sums, s)
      s = jax.device_get(sums)
      loss = float(s["loss_sum"] / max(s["weight_sum"], 1.0))
      losses.append(loss)
      out[f"valid/{task}/loss"] = loss
      out[f"valid/{task}/accuracy"] = float(s["correct_sum"] / max(s["weight_sum"], 1.0))
      out[f"valid/{task}/sequence_accuracy"] = float(
          s["sequences_correct"] / max(s["num_sequences"], 1.0))
    if losses:
      out["valid/loss"] = float(np.mean(losses))
    return out

  return evaluate


def _metric_writer(model_dir: str, tensorboard: bool, lead: bool) -> metric_writers.MetricWriter:
  """metrics.jsonl (lead process) plus TensorBoard event files when `tensorboard`."""
  writers = [JsonlWriter(os.path.join(model_dir, layout.METRICS_FILE))] if lead else []
  if tensorboard:
    writers.append(metric_writers.create_default_writer(
        os.path.join(model_dir, TENSORBOARD_DIR), just_logging=not lead, asynchronous=False))
  return metric_writers.MultiWriter(writers)


def _log(writer: metric_writers.MetricWriter, step: int, window: Sequence[dict], steps: int,
         tokens: int, elapsed: float, check: Callable[[int, Any], None]) -> dict:
  """Writes the mean train metrics of the steps in `window` (+ steps/s, tokens/s); returns them."""
  host = jax.device_get(window)
  for i, m in enumerate(host):
    check(step - len(host) + 1 + i, m["loss"])
  elapsed = max(elapsed, 1e-9)
  scalars = {f"train/{k}": float(np.mean([m[k] for m in host])) for k in host[-1]}
  scalars["train/steps_per_s"] = steps / elapsed
  scalars["train/tokens_per_s"] = tokens / elapsed
  writer.write_scalars(step, scalars)
  return scalars


@_configurable
def train(model_dir: str = gin.REQUIRED, train_steps: int = gin.REQUIRED,
          task_feature_lengths: Mapping[str, int] = gin.REQUIRED, *,
          mixture_or_task_name: Optional[str] = None, data_dir: Optional[str] = None,
          dataset_name: Optional[str] = None, method: str = "trialign",
          tokenizer_run: Optional[str] = None, register_kwargs: Optional[Mapping] = None,
          task_modules: Sequence[str] = (), batch_size: int = 32,
          model_config: Optional[t5.T5Config] = None, seed: int = 0, shuffle: bool = True,
          pack: bool = False, partitioner: Optional[partitioning.Partitioner] = None,
          log_period: int = 50, eval_period: int = 500, eval_max_batches: int = 8,
          checkpoint_period: int = 500, keep_checkpoints: int = 3,
          alignment_batch_size: int = 64, progress: bool = True, tensorboard: bool = True,
          stop_at_step: Optional[int] = None) -> dict:
  """Trains (or resumes) an encoder-decoder on a seqio mixture; returns a summary dict.

  Data: `data_dir` registers `<method>_<dataset_name>` with gr_jax_tasks, else
  `mixture_or_task_name` must be registered (import it via `task_modules`).
  The model is `models.EncoderDecoderModel` (gin: z_loss, label_smoothing,
  alignment_weight ...) over `model_config` (gin: `T5Config`; vocab_size from
  the vocabulary when unset). `stop_at_step` (tests) leaves abruptly at that
  step, without a final checkpoint, as a killed job would. MODEL_DIR gets
  `metrics.jsonl` always and `tensorboard/` event files with `tensorboard`.
  """
  t_start = time.time()
  os.makedirs(model_dir, exist_ok=True)
  for module in task_modules:
    importlib.import_module(module)
  data = _resolve_data(mixture_or_task_name, data_dir, dataset_name, method, tokenizer_run,
                       register_kwargs)
  vocab = data.pop("vocabulary")
  model = _build_model(vocab, model_config)
  config = model.config
  partitioner = partitioner or partitioning.Partitioner()
  local_bs = partitioner.local_batch_size(batch_size)
  lengths = {k: int(v) for k, v in dict(task_feature_lengths).items()}
  pairs, n_align = _alignment_pairs(model, data, vocab, alignment_batch_size)

  tx, lr_fn = make_optimizer(train_steps)
  init_rng, dropout_rng = jax.random.split(jax.random.PRNGKey(seed))
  abstract, state_sh = train_state_shardings(model, tx, partitioner, lengths, init_rng)
  ckpt_dir = os.path.join(os.path.abspath(model_dir), layout.CHECKPOINT_DIR)
  manager = _checkpoint_manager(ckpt_dir, keep_checkpoints)
  state, start = _restore(manager, abstract, state_sh, partitioner,
                          lambda: init_train_state(model, tx, partitioner, lengths, init_rng,
                                                   state_sh))
  step = int(start or 0)

  train_step = make_train_step(model, tx, lr_fn, dropout_rng)
  p_train_step = jax.jit(train_step, out_shardings=(state_sh, partitioner.replicated),
                         donate_argnums=(0,))
  evaluate = _make_evaluate(model, partitioner, train_data.task_names(data["mixture"]), lengths,
                            local_bs, eval_max_batches)

  lead = jax.process_index() == 0
  num_shards = partitioner.data_shard()[1]  # Distinct process-local slices of a batch.
  writer = _metric_writer(model_dir, tensorboard, lead)
  info_path = os.path.join(model_dir, layout.RUN_INFO)
  previous = io_utils.read_json(info_path) if os.path.exists(info_path) else {}
  run_info = dict(data, task_feature_lengths=lengths, model_config=config.to_dict(),
                  model_hparams=model.hparams(), batch_size=batch_size, seed=seed,
                  train_steps=train_steps, step=step, status="running",
                  ema_decay=getattr(ema_state(abstract.opt_state), "decay", None),
                  train_time_s=previous.get("train_time_s"), gin_config=gin.config_str(),
                  mesh=dict(partitioner.mesh.shape), num_devices=jax.device_count())
  _write_run_info(model_dir, run_info)

  batches = train_data.train_batches(data["mixture"], lengths, local_bs, seed, shuffle, pack, step,
                                     shard=partitioner.data_shard())
  pbar = tqdm.tqdm(total=train_steps, initial=step, desc="train", dynamic_ncols=True,
                   disable=not progress or not lead)
  window, pending, last_saved = [], None, start
  summary = {"loss": None, "valid": {}}
  t_log, step_log, tokens_log = time.time(), step, 0
  check = functools.partial(_check_finite, manager, ckpt_dir)

  try:
    while step < train_steps:
      if stop_at_step is not None and step >= stop_at_step:
        manager.wait_until_finished()
        return dict(summary, step=step, stopped=True)
      local = next(batches)
      tokens_log += int(np.count_nonzero(local["encoder_input_tokens"])
                        + np.count_nonzero(local["decoder_target_tokens"])) * num_shards
      batch = partitioner.shard_batch(local)
      if pairs is not None:
        batch.update({k: partitioner.shard_full(v)
                      for k, v in pairs.sample(step, n_align, seed).items()})
      with partitioner.context():
        state, metrics = p_train_step(state, batch)
      step += 1
      if pending is not None:
        check(*pending)  # The previous step's loss: already computed, no pipeline stall.
      pending = (step, metrics["loss"])
      window.append(metrics)
      pbar.update(1)
      if step % checkpoint_period == 0 or step == train_steps:
        check(step, metrics["loss"])
        _save(manager, step, state)
        last_saved = step
        run_info.update(step=step, last_checkpoint=step, train_time_s=(
            previous.get("train_time_s") or 0.0) + time.time() - t_start)
        _write_run_info(model_dir, run_info)
      if step % log_period == 0 or step == train_steps:
        scalars = _log(writer, step, window, step - step_log, tokens_log, time.time() - t_log,
                       check)
        summary["loss"] = scalars["train/loss"]
        pbar.set_postfix(loss=f"{scalars['train/loss']:.4f}",
                         steps_s=f"{scalars['train/steps_per_s']:.1f}", refresh=False)
        window, t_log, step_log, tokens_log = [], time.time(), step, 0
      if eval_period and (step % eval_period == 0 or step == train_steps):
        averaged = ema_params(state.opt_state, state.params)
        summary["valid"] = evaluate(state.params if averaged is None else averaged)
        if summary["valid"]:
          writer.write_scalars(step, summary["valid"])
        t_log = time.time()  # Keep eval time out of steps/s.
  except Exception as e:
    run_info.update(status="failed", error=f"{type(e).__name__}: {e}")
    _write_run_info(model_dir, run_info)
    raise
  finally:
    pbar.close()
    writer.flush()
    manager.wait_until_finished()
    manager.close()

  session = time.time() - t_start
  run_info.update(step=step, status="done", gin_config=gin.operative_config_str(),
                  train_time_s=(previous.get("train_time_s") or 0.0) + session,
                  last_checkpoint=last_saved)
  _write_run_info(model_dir, run_info)
  return dict(summary, step=step, train_time_s=run_info["train_time_s"], stopped=False)


def load_trained(model_dir: str, step: Optional[int] = None, use_ema: bool = True):
  """(EncoderDecoderModel, params on the default device, run_info) of a trained MODEL_DIR.

  A model trained with `make_optimizer.ema_decay` serves its parameter average
  (`run_info["served_params"] == "ema"`) unless `use_ema=False`.
  """
  path = os.path.join(model_dir, layout.RUN_INFO)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: not a trained model directory (no {layout.RUN_INFO})")
  info = io_utils.read_json(path)
  for field in ("model_config", "model_hparams"):
    if not isinstance(info.get(field), dict):
      raise io_utils.BadInputError(path, None, field, "missing or not an object")
  config = t5.T5Config.from_dict(dict(info["model_config"], t5x_params_axes=False))
  vocab = None
  if info.get("vocab_dir"):
    from gr_jax import text_vocab as vocab_lib  # pylint: disable=g-import-not-at-top
    try:
      vocab = vocab_lib.load_vocabulary(info["vocab_dir"])
    except (OSError, ValueError) as e:
      logging.warning("could not load the vocabulary of %s: %s", model_dir, e)
  model = models.EncoderDecoderModel(config, **info["model_hparams"], input_vocabulary=vocab,
                                     output_vocabulary=vocab)
  abstract = jax.eval_shape(model.init_params, jax.random.PRNGKey(0))
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), abstract)
  ckpt_dir = os.path.join(os.path.abspath(model_dir), layout.CHECKPOINT_DIR)
  if not os.path.isdir(ckpt_dir):
    raise FileNotFoundError(f"{ckpt_dir}: no checkpoint")
  manager = ocp.CheckpointManager(ckpt_dir, options=ocp.CheckpointManagerOptions(create=False))
  try:
    item = EMA_ITEM if use_ema and info.get("ema_decay") else "params"
    params, step = _restore_params(manager, ckpt_dir, step, lambda at: manager.restore(
        at, args=ocp.args.Composite(**{item: ocp.args.StandardRestore(target)}))[item])
  finally:
    manager.close()
  if not tree_is_finite(params):
    raise io_utils.StageError(
        f"{ckpt_dir}: the parameters of step {step} contain NaN/Inf; refusing to serve them "
        "(retrain: gr-jax train resumes from the last finite checkpoint)")
  info["restored_step"] = int(step)
  info["served_params"] = "ema" if item == EMA_ITEM else "raw"
  return model, params, info


def _restore_params(manager, ckpt_dir: str, step: Optional[int], restore_fn):
  """(params, step): `step`, or the newest checkpoint that restores (corrupt ones are skipped)."""
  if step is not None:
    try:
      return restore_fn(step), step
    except Exception as e:  # pylint: disable=broad-except
      raise io_utils.StageError(f"{ckpt_dir}: checkpoint step {step} cannot be read "
                                f"({type(e).__name__}: {str(e)[:200]})") from e
  steps = sorted(manager.all_steps(), reverse=True)
  if not steps:
    raise FileNotFoundError(f"{ckpt_dir}: no checkpoint")
  for at in steps:
    try:
      return restore_fn(at), at
    except Exception as e:  # pylint: disable=broad-except  # orbax/tensorstore raise many kinds.
      logging.warning("checkpoint step %d in %s cannot be read (%s: %s); trying the previous one",
                      at, ckpt_dir, type(e).__name__, str(e)[:200])
  raise io_utils.StageError(f"{ckpt_dir}: none of the checkpoints {steps} can be read")


# ---- command line -----------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Flags of `gr-jax train` (and `python -m gr_jax.train`)."""
  gin_flags.add_gin_arguments(parser, "gin/gr_jax/trialign.gin", "--gin.TRAIN_STEPS=1000")


def parse_gin(gin_files: Sequence[str], bindings: Sequence[str],
              search_paths: Sequence[str] = ()) -> None:
  """Parses gin files/bindings after registering every gr_jax configurable."""
  import gr_jax_tasks  # pylint: disable=g-import-not-at-top,unused-import
  gin_flags.parse_gin(gin_files, bindings, search_paths)


def main(args) -> int:
  """Runs `train()` as configured by gin flags (failures: one line + exit 2 via flags.guarded)."""
  partitioning.maybe_initialize_distributed()
  try:
    parse_gin(args.gin_file, args.gin_bindings, args.gin_search_paths)
  except gin_flags.T5XConfigError as e:
    print(f"gr-jax train: {e}", file=sys.stderr)
    return 2
  import gr_jax_tasks  # pylint: disable=g-import-not-at-top
  gr_jax_tasks.register_configured(raise_errors=False)
  summary = train()
  out = {k: v for k, v in summary.items() if k != "valid"}
  if jax.process_count() > 1:  # Every process reports (multi-host logs are per host).
    out.update(process_index=jax.process_index(), process_count=jax.process_count())
  print(json.dumps(out))
  return 0


def _cli() -> int:
  parser = argparse.ArgumentParser(prog="python -m gr_jax.train", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  add_arguments(parser)
  flags.add_debug_flag(parser)
  flags.add_dashed_aliases(parser)
  args = parser.parse_args()
  return flags.guarded("gr-jax train", lambda: main(args), args.debug)


if __name__ == "__main__":
  logging.basicConfig(level=logging.INFO)
  from gr_jax import train as _lib  # pylint: disable=g-import-self
  sys.exit(_lib._cli())  # pylint: disable=protected-access
