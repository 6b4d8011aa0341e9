"""Flax linen RQ-VAE: MLP encoder, residual quantizer with per-level codebooks, MLP decoder."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gr_jax.rqvae import nearest


ACTIVATIONS = {"silu": nn.silu, "relu": nn.relu}  # relu: LC-Rec / MQL4GRec `MLPLayers`.
STRAIGHT_THROUGH = ("output", "per_level")


class MLP(nn.Module):
  """Dense layers with an activation between them (none after the last) and optional dropout."""
  widths: Sequence[int]
  dropout: float = 0.0
  activation: str = "silu"

  @nn.compact
  def __call__(self, x_NxD: jax.Array, train: bool = False) -> jax.Array:
    for i, width in enumerate(self.widths):
      x_NxD = nn.Dense(width, name=f"dense_{i}")(x_NxD)
      if i < len(self.widths) - 1:
        x_NxD = ACTIVATIONS[self.activation](x_NxD)
        if self.dropout > 0:
          x_NxD = nn.Dropout(self.dropout, deterministic=not train)(x_NxD)
    return x_NxD


class ResidualQuantizer(nn.Module):
  """L codebooks; level l quantizes the residual left by levels < l (exact nearest code).

  `straight_through="output"` subtracts stop_gradient(codeword) from the residual, so
  every level's commitment loss reaches the encoder; "per_level" (LC-Rec, MQL4GRec)
  subtracts each level's straight-through output r + sg(e - r), so the next residual
  carries no gradient and only level 0's commitment loss trains the encoder.
  """
  codebook_sizes: Sequence[int]
  latent_dim: int
  straight_through: str = "output"

  def setup(self):
    init = nn.initializers.variance_scaling(1.0, "fan_in", "uniform")
    self.codebooks = [self.param(f"codebook_{l}", init, (k, self.latent_dim))
                      for l, k in enumerate(self.codebook_sizes)]

  def __call__(self, z_NxD: jax.Array) -> dict:
    """Returns codes_NxL, residuals_LxNxD (input of each level), codewords_LxNxD, and with
    "per_level" zq_st_NxD (the sum of the levels' straight-through outputs)."""
    if self.straight_through not in STRAIGHT_THROUGH:
      raise ValueError(f"straight_through {self.straight_through!r}: expected {STRAIGHT_THROUGH}")
    sg = jax.lax.stop_gradient
    residual_NxD = z_NxD
    codes, residuals, codewords, zq_st_NxD = [], [], [], 0.0
    for codebook_KxD in self.codebooks:
      codes_N = nearest.nearest_codes(residual_NxD, codebook_KxD)
      e_NxD = jnp.take(codebook_KxD, codes_N, axis=0)
      residuals.append(residual_NxD)
      codewords.append(e_NxD)
      codes.append(codes_N)
      if self.straight_through == "per_level":
        e_st_NxD = residual_NxD + sg(e_NxD - residual_NxD)
        zq_st_NxD = zq_st_NxD + e_st_NxD
        residual_NxD = residual_NxD - e_st_NxD
      else:
        residual_NxD = residual_NxD - sg(e_NxD)
    out = dict(codes_NxL=jnp.stack(codes, axis=1), residuals_LxNxD=jnp.stack(residuals),
               codewords_LxNxD=jnp.stack(codewords))
    if self.straight_through == "per_level":
      out["zq_st_NxD"] = zq_st_NxD
    return out

  def lookup(self, codes_NxL: jax.Array) -> jax.Array:
    """Per-level codewords [L, N, D] of given codes."""
    return jnp.stack([jnp.take(cb, codes_NxL[:, l], axis=0) for l, cb in enumerate(self.codebooks)])


def quantization_losses(residuals_LxNxD, codewords_LxNxD, beta: float, reduction: str = "sum"):
  """Per-level codebook loss ||sg[r]-e||^2 and beta * commitment loss ||r-sg[e]||^2.

  reduction "sum": sum over the latent dimension, mean over N; "mean": mean over
  N and D (`F.mse_loss`, as LC-Rec / MQL4GRec).
  """
  sg = jax.lax.stop_gradient
  reduce = (lambda x: jnp.mean(jnp.sum(x, -1), -1)) if reduction == "sum" else (
      lambda x: jnp.mean(x, (-2, -1)))
  codebook_L = reduce((sg(residuals_LxNxD) - codewords_LxNxD) ** 2)
  commit_L = reduce((residuals_LxNxD - sg(codewords_LxNxD)) ** 2)
  return codebook_L, beta * commit_L


class RQVAE(nn.Module):
  """Encoder -> residual quantization (straight-through) -> decoder."""
  input_dim: int
  latent_dim: int = 32
  encoder_widths: Sequence[int] = (512, 256, 128)
  codebook_sizes: Sequence[int] = (256, 256, 256)
  dropout: float = 0.0
  activation: str = "silu"
  straight_through: str = "output"

  def setup(self):
    self.encoder = MLP(tuple(self.encoder_widths) + (self.latent_dim,), self.dropout,
                       self.activation)
    self.decoder = MLP(tuple(reversed(self.encoder_widths)) + (self.input_dim,), self.dropout,
                       self.activation)
    self.quantizer = ResidualQuantizer(tuple(self.codebook_sizes), self.latent_dim,
                                       self.straight_through)

  def encode(self, x_NxD, train: bool = False):
    return self.encoder(x_NxD, train)

  def decode(self, z_NxD, train: bool = False):
    return self.decoder(z_NxD, train)

  def quantize(self, z_NxD):
    return self.quantizer(z_NxD)

  def lookup(self, codes_NxL):
    return self.quantizer.lookup(codes_NxL)

  def __call__(self, x_NxD: jax.Array, train: bool = False) -> dict:
    """Forward pass: latents, codes, quantized latents (straight-through) and reconstruction."""
    z_NxD = self.encode(x_NxD, train)
    out = self.quantize(z_NxD)
    zq_NxD = jnp.sum(out["codewords_LxNxD"], axis=0)
    # Straight-through estimator (per level when the quantizer made one).
    zq_st_NxD = out.pop("zq_st_NxD", None)
    if zq_st_NxD is None:
      zq_st_NxD = z_NxD + jax.lax.stop_gradient(zq_NxD - z_NxD)
    out.update(z_NxD=z_NxD, zq_NxD=zq_NxD, recon_NxD=self.decode(zq_st_NxD, train))
    return out

  def recon_by_depth(self, x_NxD: jax.Array) -> jax.Array:
    """Reconstructions [L, N, D] decoded from the first d=1..L codewords."""
    out = self.quantize(self.encode(x_NxD))
    partial_LxNxD = jnp.cumsum(out["codewords_LxNxD"], axis=0)
    return jax.vmap(self.decode)(partial_LxNxD)
