"""RQ-VAE training: k-means init, jitted AdamW step, EMA codebooks, dead-code restart, resume."""

from __future__ import annotations

import functools
import logging
import os
import shutil
from typing import Callable, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import tqdm

from gr_jax.rqvae import kmeans
from gr_jax.rqvae import macrec
from gr_jax.rqvae import rqvae
from gr_jax.rqvae.config import TokenizerConfig

# Rows per jitted forward pass when encoding the whole catalogue (export, restarts).
FORWARD_ROWS = 8192


def build_models(cfg: TokenizerConfig, dims: Mapping[str, int]) -> dict[str, rqvae.RQVAE]:
  """One RQ-VAE per modality."""
  return {m: rqvae.RQVAE(input_dim=dims[m], latent_dim=cfg.latent_dim,
                         encoder_widths=tuple(cfg.encoder_widths),
                         codebook_sizes=tuple(cfg.codebook_sizes), dropout=cfg.dropout,
                         activation=cfg.activation, straight_through=cfg.straight_through)
          for m in cfg.modalities}


def num_steps(cfg: TokenizerConfig, n: int) -> int:
  steps = cfg.epochs * max(n // batch_size(cfg, n), 1)
  return min(steps, cfg.max_steps) if cfg.max_steps else steps


def batch_size(cfg: TokenizerConfig, n: int) -> int:
  return max(1, min(cfg.batch_size, n))


def batch_indices(cfg: TokenizerConfig, n: int, step: int) -> np.ndarray:
  """Rows of step `step`: epoch-wise permutations drawn from (seed, epoch); remainder dropped."""
  b = batch_size(cfg, n)
  per_epoch = max(n // b, 1)
  epoch, i = divmod(step, per_epoch)
  perm = np.random.default_rng([cfg.seed, epoch]).permutation(n)
  return perm[i * b:(i + 1) * b]


def make_optimizer(cfg: TokenizerConfig, total_steps: int) -> optax.GradientTransformation:
  if cfg.warmup_steps:
    lr = optax.warmup_cosine_decay_schedule(0.0, cfg.learning_rate, cfg.warmup_steps,
                                            max(total_steps, cfg.warmup_steps + 1))
  else:
    lr = cfg.learning_rate
  return optax.adamw(lr, weight_decay=cfg.weight_decay)


def _apply_full(m, p, x):
  return m.apply({"params": p}, x)


def _apply_encode(m, p, x):
  return m.apply({"params": p}, x, method="encode")


def _quantize_all(m, p, x):
  return m.apply({"params": p}, x, method=lambda mod, v: mod.quantize(mod.encode(v)))


def _export_fn(m, p, x):
  out = _quantize_all(m, p, x)
  return {"codes": out["codes_NxL"], "last_residual": out["residuals_LxNxD"][-1]}


def _residuals_fn(m, p, x):
  return jnp.transpose(_quantize_all(m, p, x)["residuals_LxNxD"], (1, 0, 2))


def _recon_by_depth_fn(m, p, x):
  recon_LxNxD = m.apply({"params": p}, x, method="recon_by_depth")
  num = jnp.sum(recon_LxNxD * x[None], -1)
  den = jnp.linalg.norm(recon_LxNxD, axis=-1) * jnp.linalg.norm(x, axis=-1)[None]
  return jnp.transpose(num / jnp.maximum(den, 1e-8))  # [N, L] cosine per depth.


_JIT_CACHE: dict = {}


def _jitted(model, fn):
  key = (model, fn)  # Linen modules hash by their fields: equal models share a compilation.
  if key not in _JIT_CACHE:
    _JIT_CACHE[key] = jax.jit(lambda p, x: fn(model, p, x))
  return _JIT_CACHE[key]


def forward_all(model: rqvae.RQVAE, params, x_NxD: np.ndarray, fn: Callable = _apply_full,
                rows: int = FORWARD_ROWS):
  """Applies jitted `fn(model, params, x_BxD)` (outputs lead with B) over padded row blocks."""
  jitted = _jitted(model, fn)
  n = x_NxD.shape[0]
  rows = max(1, min(rows, n))
  outs = []
  for start in range(0, n, rows):
    block = np.asarray(x_NxD[start:start + rows], np.float32)
    k = block.shape[0]
    if k < rows:
      block = np.concatenate([block, np.zeros((rows - k,) + block.shape[1:], np.float32)])
    out = jax.device_get(jitted(params, jnp.asarray(block)))
    outs.append(jax.tree.map(lambda a, k=k: np.asarray(a)[:k], out))
  return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *outs)


def encode_codes(model, params, x_NxD) -> dict:
  """codes [N, L] and last-level residuals [N, D] for every row (the export pass)."""
  return forward_all(model, params, x_NxD, _export_fn)


def recon_cosine_by_depth(model, params, x_NxD) -> np.ndarray:
  """Mean cosine(x, decode(sum of the first d codewords)) for d = 1..L."""
  return forward_all(model, params, x_NxD, _recon_by_depth_fn).mean(axis=0)


def _residuals(model, params, x_NxD) -> np.ndarray:
  """residuals [N, L, D] (input of each level)."""
  return forward_all(model, params, x_NxD, _residuals_fn)


@jax.jit
def _subtract_assigned(residual_NxD, centroids_KxD, codes_N):
  return residual_NxD - jnp.take(centroids_KxD, codes_N, axis=0)


def kmeans_init(cfg: TokenizerConfig, model, params, x_NxD: np.ndarray, key) -> dict:
  """Sets codebook l to k-means(++) centroids of level-l residuals of a sample of rows."""
  n = x_NxD.shape[0]
  rng = np.random.default_rng([cfg.seed, 7])
  sample = np.sort(rng.choice(n, size=min(n, cfg.kmeans_samples), replace=False))
  residual = jnp.asarray(forward_all(model, params, x_NxD[sample], _apply_encode))
  quant = dict(params["quantizer"])
  for l, k in enumerate(cfg.codebook_sizes):
    res = kmeans.kmeans(jax.random.fold_in(key, l), residual, int(k), cfg.kmeans_iters)
    quant[f"codebook_{l}"] = res.centroids_KxD
    residual = _subtract_assigned(residual, res.centroids_KxD, res.assignments_N)
  return dict(params, quantizer=quant)


def init_ema(params) -> dict:
  """EMA state per level: cluster sizes (1 each) and sums (= the codebook)."""
  quant = params["quantizer"]
  return {name: {"n": jnp.ones((cb.shape[0],), jnp.float32), "m": jnp.array(cb, copy=True)}
          for name, cb in quant.items()}


def make_train_step(cfg: TokenizerConfig, models: Mapping[str, rqvae.RQVAE], optimizer):
  """Jitted step(state, batch, labels, rng, step_index) -> (state, metrics)."""
  mods = list(cfg.modalities)

  def loss_fn(params, batch, labels, rng):
    total, metrics, outs = 0.0, {}, {}
    for i, m in enumerate(mods):
      x = batch[m]
      out = models[m].apply({"params": params[m]}, x, train=True,
                            rngs={"dropout": jax.random.fold_in(rng, i)})
      err = (x - out["recon_NxD"]) ** 2
      recon = jnp.mean(err) if cfg.loss_reduction == "mean" else jnp.mean(jnp.sum(err, -1))
      cb_L, commit_L = rqvae.quantization_losses(out["residuals_LxNxD"], out["codewords_LxNxD"],
                                                 cfg.beta, cfg.loss_reduction)
      if cfg.ema:
        cb_L = jnp.zeros_like(cb_L)
      level_reduce = jnp.mean if cfg.loss_reduction == "mean" else jnp.sum
      total = total + recon + level_reduce(cb_L + commit_L)
      metrics[f"{m}/recon"] = recon
      metrics[f"{m}/commit"] = jnp.sum(commit_L)
      outs[m] = out
    if cfg.dual:
      t, v = outs["text"], outs["image"]
      for l, w in enumerate(cfg.con_weights):
        if w:
          con = (macrec.pseudo_label_infonce(t["residuals_LxNxD"][l], labels["image"],
                                             cfg.con_temperature, cosine=cfg.contrastive_cosine)
                 + macrec.pseudo_label_infonce(v["residuals_LxNxD"][l], labels["text"],
                                               cfg.con_temperature, cosine=cfg.contrastive_cosine))
          total = total + w * con
          metrics[f"con_{l}"] = con
      if cfg.align_weight:
        align = macrec.paired_infonce(t["zq_NxD"], v["zq_NxD"], cfg.align_temperature,
                                      cosine=cfg.contrastive_cosine)
        total = total + cfg.align_weight * align
        metrics["align"] = align
    metrics["loss"] = total
    return total, (metrics, {m: (o["codes_NxL"], o["residuals_LxNxD"]) for m, o in outs.items()})

  def step(state, batch, labels, rng, step_index):
    rng = jax.random.fold_in(rng, step_index)
    grads, (metrics, codes) = jax.grad(loss_fn, has_aux=True)(state["params"], batch, labels, rng)
    if cfg.ema:
      grads = {m: dict(g, quantizer=jax.tree.map(jnp.zeros_like, g["quantizer"]))
               for m, g in grads.items()}
    updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    usage, ema = dict(state["usage"]), dict(state["ema"])
    for m in mods:
      codes_NxL, residuals_LxNxD = codes[m]
      new_usage, new_ema, new_quant = {}, {}, dict(params[m]["quantizer"])
      for l, k in enumerate(cfg.codebook_sizes):
        name = f"codebook_{l}"
        counts_K = jax.ops.segment_sum(jnp.ones_like(codes_NxL[:, l], jnp.float32),
                                       codes_NxL[:, l], num_segments=k)
        new_usage[name] = usage[m][name] + counts_K
        if cfg.ema:
          d = cfg.ema_decay
          sums_KxD = jax.ops.segment_sum(residuals_LxNxD[l], codes_NxL[:, l], num_segments=k)
          n_K = d * ema[m][name]["n"] + (1 - d) * counts_K
          m_KxD = d * ema[m][name]["m"] + (1 - d) * sums_KxD
          total_n = jnp.sum(n_K)
          smoothed_K = (n_K + 1e-5) / (total_n + k * 1e-5) * total_n
          new_quant[name] = m_KxD / smoothed_K[:, None]
          new_ema[name] = {"n": n_K, "m": m_KxD}
      usage[m] = new_usage
      if cfg.ema:
        ema[m] = new_ema
        params = dict(params, **{m: dict(params[m], quantizer=new_quant)})
    return dict(params=params, opt_state=opt_state, usage=usage, ema=ema), metrics

  return jax.jit(step, donate_argnums=(0,))


def restart_dead_codes(cfg, models, state, data: Mapping[str, np.ndarray], step: int) -> tuple:
  """Codes unused since the last restart take the residual of a random item (+tiny noise)."""
  restarted = {}
  params, usage, ema = dict(state["params"]), dict(state["usage"]), dict(state["ema"])
  for m in cfg.modalities:
    x = data[m]
    rng = np.random.default_rng([cfg.seed, 11, step])
    sample = rng.choice(x.shape[0], size=min(x.shape[0], 4096), replace=False)
    res_NxLxD = _residuals(models[m], params[m], x[sample])
    quant = {k: np.array(v) for k, v in params[m]["quantizer"].items()}
    m_usage, m_ema, count = {}, dict(ema.get(m, {})), 0
    for l, k in enumerate(cfg.codebook_sizes):
      name = f"codebook_{l}"
      dead = np.flatnonzero(np.asarray(usage[m][name]) == 0)
      if dead.size:
        pick = rng.choice(res_NxLxD.shape[0], size=dead.size, replace=dead.size > res_NxLxD.shape[0])
        noise = 1e-3 * rng.standard_normal((dead.size, quant[name].shape[1])).astype(np.float32)
        quant[name][dead] = res_NxLxD[pick, l] + noise
        if cfg.ema:
          n_K = np.array(m_ema[name]["n"])
          m_KxD = np.array(m_ema[name]["m"])
          n_K[dead] = 1.0
          m_KxD[dead] = quant[name][dead]
          m_ema[name] = {"n": jnp.asarray(n_K), "m": jnp.asarray(m_KxD)}
      count += int(dead.size)
      m_usage[name] = jnp.zeros((k,), jnp.float32)
    params[m] = dict(params[m], quantizer={k: jnp.asarray(v) for k, v in quant.items()})
    usage[m] = m_usage
    if cfg.ema:
      ema[m] = m_ema
    restarted[m] = count
  return dict(state, params=params, usage=usage, ema=ema), restarted


def host_init(model: rqvae.RQVAE, x_BxD, seed: int) -> dict:
  """Parameters drawn on the host (numpy): LeCun-normal kernels, zero biases, uniform codebooks.

  Same scheme as the Flax defaults, without compiling threefry initialisers (seconds on CPU).
  """
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x_BxD)["params"]
  rng = np.random.default_rng([seed, 3])

  def draw(path, leaf):
    name = str(getattr(path[-1], "key", path[-1]))
    if name == "bias":
      return np.zeros(leaf.shape, leaf.dtype)
    fan_in = leaf.shape[0] if name == "kernel" else leaf.shape[-1]
    if name == "kernel":
      return (rng.standard_normal(leaf.shape) / np.sqrt(fan_in)).astype(leaf.dtype)
    limit = np.sqrt(3.0 / fan_in)
    return rng.uniform(-limit, limit, leaf.shape).astype(leaf.dtype)

  return jax.device_put(jax.tree_util.tree_map_with_path(draw, shapes))


def init_state(cfg, models, data, optimizer, use_kmeans: bool = True) -> dict:
  """Fresh state: random init, then k-means codebooks, EMA and usage accumulators."""
  key = jax.random.PRNGKey(cfg.seed)
  params, usage, ema = {}, {}, {}
  for i, m in enumerate(cfg.modalities):
    mkey = jax.random.fold_in(key, i)
    p = host_init(models[m], jnp.asarray(data[m][:2]), cfg.seed * 1000 + i)
    if cfg.kmeans_init and use_kmeans:
      p = kmeans_init(cfg, models[m], p, data[m], jax.random.fold_in(mkey, 1))
    params[m] = jax.tree.map(jnp.asarray, p)
    usage[m] = {f"codebook_{l}": jnp.zeros((k,), jnp.float32)
                for l, k in enumerate(cfg.codebook_sizes)}
    ema[m] = init_ema(params[m]) if cfg.ema else {}
  return dict(params=params, opt_state=jax.jit(optimizer.init)(params), usage=usage, ema=ema)


@functools.lru_cache(maxsize=8)
def _compiled(cfg: TokenizerConfig, dims: tuple, total: int):
  """(models, optimizer, jitted step), cached so equal configs reuse the compiled step."""
  models = build_models(cfg, dict(dims))
  optimizer = make_optimizer(cfg, total)
  return models, optimizer, make_train_step(cfg, models, optimizer)


def train(cfg: TokenizerConfig, data: Mapping[str, np.ndarray], ckpt_dir: Optional[str],
          pseudo_labels: Optional[Mapping[str, np.ndarray]] = None, progress: bool = True,
          log: Callable[[str], None] = logging.info,
          max_new_steps: Optional[int] = None) -> tuple[dict, dict, list[dict]]:
  """Trains; returns (models, params, history). Resumes from `ckpt_dir` when it holds a step.

  `max_new_steps` stops (after checkpointing) once that many steps ran in this call.
  """
  n = next(iter(data.values())).shape[0]
  dims = tuple((m, int(data[m].shape[1])) for m in cfg.modalities)
  total = num_steps(cfg, n)
  models, optimizer, step_fn = _compiled(cfg, dims, total)
  start, manager, latest = 0, None, None
  if ckpt_dir:
    manager = ocp.CheckpointManager(os.path.abspath(ckpt_dir), options=ocp.CheckpointManagerOptions(
        max_to_keep=2, create=True, enable_async_checkpointing=False))
    latest = manager.latest_step()
  # On resume the k-means init is skipped: the state only gives the checkpoint's structure.
  state = init_state(cfg, models, data, optimizer, use_kmeans=latest is None)
  if manager is not None:
    if latest is not None:
      state = manager.restore(latest, args=ocp.args.StandardRestore(state))
      start = int(latest)
      log(f"resumed from {ckpt_dir} at step {start}/{total}")
  labels = {m: jnp.zeros((batch_size(cfg, n),), jnp.int32) for m in cfg.modalities}
  history = []
  rng = jax.random.PRNGKey(cfg.seed + 1)
  bar = tqdm.tqdm(range(start, total), initial=start, total=total, desc=f"rqvae {cfg.run}",
                  disable=not progress, mininterval=1.0)
  metrics = None
  stop = total if max_new_steps is None else min(total, start + max_new_steps)
  for step in bar:
    if step >= stop:
      if manager is not None and manager.latest_step() != step:
        manager.save(step, args=ocp.args.StandardSave(state), force=True)
      break
    idx = batch_indices(cfg, n, step)
    batch = {m: jnp.asarray(data[m][idx]) for m in cfg.modalities}
    if pseudo_labels is not None:
      labels = {m: jnp.asarray(pseudo_labels[m][idx]) for m in pseudo_labels}
    state, metrics = step_fn(state, batch, labels, rng, np.int32(step))
    done = step + 1
    if done % 50 == 0 or done == total:
      row = {k: float(v) for k, v in jax.device_get(metrics).items()}
      if not np.isfinite(row["loss"]):
        raise FloatingPointError(f"non-finite RQ-VAE loss at step {done}: {row}")
      history.append(dict(step=done, **row))
      bar.set_postfix(loss=f"{row['loss']:.4f}")
    if (cfg.dead_code_every and done % cfg.dead_code_every == 0
        and done < cfg.dead_code_stop * total):
      state, restarted = restart_dead_codes(cfg, models, state, data, done)
      if any(restarted.values()):
        history.append(dict(step=done, restarted=restarted))
    if manager is not None and (done % cfg.checkpoint_every == 0 or done == total):
      manager.save(done, args=ocp.args.StandardSave(state))
  if manager is not None:
    if manager.latest_step() is None:  # Zero steps: still leave the (k-means) tokenizer.
      manager.save(0, args=ocp.args.StandardSave(state), force=True)
    manager.wait_until_finished()
    manager.close()
  return models, state["params"], history


def clear_checkpoints(ckpt_dir: str) -> None:
  """Removes a previous run's checkpoints (its config differs from this run's)."""
  if os.path.isdir(ckpt_dir):
    shutil.rmtree(ckpt_dir)
