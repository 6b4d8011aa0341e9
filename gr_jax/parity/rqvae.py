"""RQ-VAE parity: gr_jax's tokenizer trainer vs a PyTorch RQ-VAE written to the peers' recipe.

The reference follows LC-Rec / MQL4GRec (`index/models/rqvae.py`, `rq.py`, `vq.py`):
ReLU MLP encoder and mirrored decoder, one `nn.Embedding` codebook per level with
exact nearest-code assignment, per-level loss `mse(e, sg(r)) + beta * mse(sg(e), r)`
averaged over levels, a per-level straight-through estimator whose output is
subtracted from the residual, `mse(recon, x)` reconstruction, k-means init of each
level on that level's residuals, `torch.optim.AdamW` (lr 1e-3, weight decay 1e-4 on
every parameter). gr_jax matches it with the `TokenizerConfig` bindings of
`PEER_BINDINGS`. Both sides start from the same weights (gr_jax's host init, copied)
and the same k-means++ seeds (a shared random draw, like the weights); the Lloyd
iterations, every forward/backward pass and every optimizer step run in each stack.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from gr_jax.rqvae import collisions
from gr_jax.rqvae import kmeans
from gr_jax.rqvae import trainer
from gr_jax.rqvae.config import TokenizerConfig

# TokenizerConfig fields that reproduce the peers' RQ-VAE recipe.
PEER_BINDINGS = dict(activation="relu", loss_reduction="mean", straight_through="per_level",
                     dead_code_every=0, ema=False, dropout=0.0, warmup_steps=0)


def parity_config(steps: int = 200, codebook_sizes=(256, 256, 256), latent_dim: int = 32,
                  encoder_widths=(512, 256, 128), batch_size: int = 1024,
                  learning_rate: float = 1e-3, weight_decay: float = 1e-4, kmeans_iters: int = 20,
                  seed: int = 0) -> TokenizerConfig:
  """A TokenizerConfig with the peers' recipe, k-means on every row, `steps` steps."""
  return TokenizerConfig(run="parity", codebook_sizes=tuple(codebook_sizes),
                         latent_dim=latent_dim, encoder_widths=tuple(encoder_widths),
                         batch_size=batch_size, learning_rate=learning_rate,
                         weight_decay=weight_decay, kmeans_iters=kmeans_iters,
                         kmeans_samples=1 << 30, epochs=10 ** 6, max_steps=steps, seed=seed,
                         **PEER_BINDINGS)


def torch_reference(input_dim: int, cfg: TokenizerConfig):
  """The PyTorch RQ-VAE (peers' recipe) as an `nn.Module`; forward(x) -> dict."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  def mlp(dims):
    layers = []
    for i in range(len(dims) - 1):
      layers.append(nn.Linear(dims[i], dims[i + 1]))
      if i < len(dims) - 2:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)

  class RQVAE(nn.Module):
    """MLP encoder -> residual VQ (per-level straight-through) -> MLP decoder."""

    def __init__(self):
      super().__init__()
      dims = [input_dim, *cfg.encoder_widths, cfg.latent_dim]
      self.encoder = mlp(dims)
      self.decoder = mlp(dims[::-1])
      self.codebooks = nn.ModuleList(nn.Embedding(k, cfg.latent_dim) for k in cfg.codebook_sizes)
      self.beta = cfg.beta

    @staticmethod
    def nearest(r, weight):
      # The peers' distance minus the per-row constant ||r||^2: the same argmin, and adding
      # that constant in float32 only rounds away the small gaps that decide near-ties.
      d = (weight ** 2).sum(1)[None, :] - 2 * r @ weight.t()
      return torch.argmin(d, dim=-1)

    def quantize(self, z):
      residual, x_q, losses, codes = z, 0.0, [], []
      for book in self.codebooks:
        idx = self.nearest(residual, book.weight)
        e = book(idx)
        losses.append(F.mse_loss(e, residual.detach())
                      + self.beta * F.mse_loss(e.detach(), residual))
        e_st = residual + (e - residual).detach()
        residual = residual - e_st
        x_q = x_q + e_st
        codes.append(idx)
      return x_q, torch.stack(losses).mean(), torch.stack(codes, 1)

    def forward(self, x):
      x_q, quant, codes = self.quantize(self.encoder(x))
      recon = F.mse_loss(self.decoder(x_q), x)
      return {"loss": recon + quant, "recon": recon, "quant": quant, "codes": codes}

    @torch.no_grad()
    def kmeans_init(self, x, seeds_fn: Callable, iters: int):
      """Per level: Lloyd iterations from `seeds_fn(residual, level)` on that level's residuals."""
      residual = self.encoder(x)
      for level, book in enumerate(self.codebooks):
        c = torch.as_tensor(np.asarray(seeds_fn(residual.detach().numpy(), level)))
        for _ in range(iters):
          idx = self.nearest(residual, c)
          sums = torch.zeros_like(c).index_add_(0, idx, residual)
          counts = torch.bincount(idx, minlength=c.shape[0]).to(c.dtype)
          c = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], c)
        book.weight.copy_(c)
        residual = residual - c[self.nearest(residual, c)]

  return RQVAE()


def load_flax_params(model, params) -> None:
  """Copies gr_jax RQ-VAE params (Dense kernels [in, out]) into the torch reference."""
  import torch  # pylint: disable=g-import-not-at-top
  with torch.no_grad():
    for part in ("encoder", "decoder"):
      linears = [m for m in getattr(model, part) if isinstance(m, torch.nn.Linear)]
      for i, lin in enumerate(linears):
        p = params[part][f"dense_{i}"]
        lin.weight.copy_(torch.from_numpy(np.array(p["kernel"], np.float32).T.copy()))
        lin.bias.copy_(torch.from_numpy(np.array(p["bias"], np.float32)))
    for l, book in enumerate(model.codebooks):
      cb = np.array(params["quantizer"][f"codebook_{l}"], np.float32)
      book.weight.copy_(torch.from_numpy(cb))


@dataclasses.dataclass
class RQVAEParity:
  losses_jax: np.ndarray  # [steps]
  losses_torch: np.ndarray
  kmeans_rel_diff: float  # worst codebook after k-means init, ||a-b|| / ||b||
  codes_jax: np.ndarray  # [N, L] after training
  codes_torch: np.ndarray
  seconds: float
  precision: str = "float32"
  # gr_jax against itself with each batch's rows in reverse order (float32 only): the same
  # maths, only the summation order differs at every step, as between two stacks; None when
  # not run.
  control_losses: Optional[np.ndarray] = None
  control_codes: Optional[np.ndarray] = None
  params: dict = dataclasses.field(repr=False, default=None)  # gr_jax params after training
  model: object = dataclasses.field(repr=False, default=None)

  @property
  def loss_rel_diff(self) -> np.ndarray:
    return np.abs(self.losses_jax - self.losses_torch) / np.maximum(np.abs(self.losses_torch),
                                                                   1e-12)

  @property
  def equal_codes(self) -> float:
    return float(np.mean(np.all(self.codes_jax == self.codes_torch, axis=1)))

  def summary(self) -> dict:
    rel = self.loss_rel_diff
    control = {}
    if self.control_losses is not None:
      c = np.abs(self.control_losses - self.losses_jax) / np.maximum(np.abs(self.losses_jax), 1e-12)
      control = {"control_max_loss_rel_diff": float(c.max()),
                 "control_equal_codes": float(np.mean(np.all(self.control_codes == self.codes_jax,
                                                              axis=1)))}
    return {"precision": self.precision, "steps": int(rel.size),
            "max_loss_rel_diff": float(rel.max()),
            "worst_step": int(rel.argmax()) + 1, "kmeans_rel_diff": self.kmeans_rel_diff,
            "equal_codes": self.equal_codes,
            "equal_codes_per_level": np.mean(self.codes_jax == self.codes_torch, 0).tolist(),
            "first_loss": float(self.losses_jax[0]), "last_loss": float(self.losses_jax[-1]),
            "seconds": self.seconds, **control}


def run(x_NxD: np.ndarray, cfg: TokenizerConfig, precision: str = "float32",
        control: bool = False, log: Callable[[str], None] = print) -> RQVAEParity:
  """Trains both RQ-VAEs `cfg.max_steps` steps on the same batches; compares losses and codes.

  `precision` "float64" runs both stacks in double precision (jax x64 inside this
  call only): the same maths without float32 rounding, which Adam's per-element
  normalisation and the discrete nearest-code choices amplify (see the README).
  `control` (float32) also trains gr_jax on the same batches with their rows reversed.
  """
  if precision not in ("float32", "float64"):
    raise ValueError(f"precision must be float32 or float64, got {precision!r}")
  with jax.enable_x64(precision == "float64"):
    return _run(np.asarray(x_NxD, np.float32), cfg, precision, control, log)


def _run(x_NxD, cfg, precision, control, log) -> RQVAEParity:
  import torch  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  n, steps = x_NxD.shape[0], int(cfg.max_steps)
  data = {"text": x_NxD}
  compiled = trainer._compiled  # pylint: disable=protected-access
  models, optimizer, step_fn = compiled(cfg, (("text", x_NxD.shape[1]),), steps)
  model = models["text"]
  # gr_jax: trainer.init_state draws the host init, then k-means per level.
  state = trainer.init_state(cfg, models, data, optimizer)
  p0 = trainer.host_init(model, jnp.asarray(x_NxD[:2]), cfg.seed * 1000)
  km_key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 0), 1)

  def seeds_fn(residual_NxD, level):  # The k-means++ draw trainer.kmeans_init makes.
    return kmeans.kmeans_plus_plus(jax.random.fold_in(km_key, level),
                                   jnp.asarray(residual_NxD, jnp.float32),
                                   int(cfg.codebook_sizes[level]))

  ref = torch_reference(x_NxD.shape[1], cfg)
  load_flax_params(ref, jax.device_get(p0))
  ref.kmeans_init(torch.from_numpy(x_NxD), seeds_fn, cfg.kmeans_iters)
  params = jax.device_get(state["params"]["text"])
  km_rel = max(
      float(np.linalg.norm(np.asarray(params["quantizer"][f"codebook_{l}"])
                           - book.weight.detach().numpy())
            / max(np.linalg.norm(book.weight.detach().numpy()), 1e-12))
      for l, book in enumerate(ref.codebooks))
  # Training starts from one init: gr_jax's k-means codebooks (the reference's own
  # Lloyd iterations agree to km_rel) are copied across like the MLP weights.
  load_flax_params(ref, params)
  dtype = np.float64 if precision == "float64" else np.float32
  if precision == "float64":
    ref = ref.double()
    state = dict(state, params=jax.tree.map(lambda a: jnp.asarray(a, jnp.float64),
                                            state["params"]))
    state["opt_state"] = optimizer.init(state["params"])
  x_run = x_NxD.astype(dtype)
  twin = None
  if control and precision == "float32":
    twin = jax.tree.map(lambda a: jnp.array(a, copy=True), state)
  losses_twin = []
  opt = torch.optim.AdamW(ref.parameters(), lr=cfg.learning_rate, betas=(0.9, 0.999), eps=1e-8,
                          weight_decay=cfg.weight_decay)
  labels = {"text": jnp.zeros((trainer.batch_size(cfg, n),), jnp.int32)}
  rng = jax.random.PRNGKey(cfg.seed + 1)
  losses_jax, losses_torch = [], []
  for step in range(steps):
    idx = trainer.batch_indices(cfg, n, step)
    state, metrics = step_fn(state, {"text": jnp.asarray(x_run[idx])}, labels, rng,
                             np.int32(step))
    losses_jax.append(float(metrics["loss"]))
    if twin is not None:
      twin, m2 = step_fn(twin, {"text": jnp.asarray(x_run[idx[::-1]])}, labels, rng,
                         np.int32(step))
      losses_twin.append(float(m2["loss"]))
    out = ref(torch.from_numpy(x_run[idx]))
    opt.zero_grad()
    out["loss"].backward()
    opt.step()
    losses_torch.append(float(out["loss"].detach()))
    if (step + 1) % 50 == 0 or step + 1 == steps:
      log(f"  rqvae ({precision}) step {step + 1}/{steps}: loss gr_jax {losses_jax[-1]:.6f} "
          f"torch {losses_torch[-1]:.6f}")
  params = state["params"]["text"]
  with torch.no_grad():
    codes_torch = ref(torch.from_numpy(x_run))["codes"].numpy()
  codes_jax = np.asarray(_quantize(model, params, x_run))
  params32 = jax.tree.map(lambda a: np.asarray(a, np.float32), jax.device_get(params))
  twin_codes = (np.asarray(_quantize(model, twin["params"]["text"], x_run)) if twin is not None
                else None)
  return RQVAEParity(np.asarray(losses_jax), np.asarray(losses_torch), km_rel, codes_jax,
                     codes_torch, time.time() - t0, precision,
                     np.asarray(losses_twin) if twin is not None else None, twin_codes,
                     params32, model)


def _quantize(model, params, x_NxD):
  """Codes [N, L] of every row in the params' precision (one jitted pass)."""
  export = trainer._export_fn  # pylint: disable=protected-access
  fn = jax.jit(lambda p, x: export(model, p, x)["codes"])
  return fn(params, jnp.asarray(x_NxD))


def unique_sids(result: RQVAEParity, x_NxD: np.ndarray, cfg: TokenizerConfig,
                strategy: str = "reassign") -> tuple[np.ndarray, list[int], dict]:
  """gr_jax's final SIDs (collisions resolved as `gr-jax tokenize` does) and level sizes."""
  out = trainer.encode_codes(result.model, result.params, np.asarray(x_NxD, np.float32))
  last = np.asarray(result.params["quantizer"][f"codebook_{len(cfg.codebook_sizes) - 1}"])
  codes, extra, info = collisions.resolve(out["codes"], strategy, out["last_residual"], last)
  sizes = list(cfg.codebook_sizes) + ([int(extra)] if extra else [])
  info["collision_rate_before"] = collisions.collision_rate(out["codes"])
  return np.asarray(codes), sizes, info


def check(summary: dict, loss_tol: float = 1e-4, min_equal_codes: float = 0.995
          ) -> Optional[str]:
  """None when the summary meets the thresholds, else the reason."""
  if summary["max_loss_rel_diff"] > loss_tol:
    return (f"RQ-VAE loss rel diff {summary['max_loss_rel_diff']:.2e} > {loss_tol:g} "
            f"at step {summary['worst_step']}")
  if summary["equal_codes"] < min_equal_codes:
    return f"RQ-VAE equal codes {summary['equal_codes']:.4f} < {min_equal_codes}"
  return None
