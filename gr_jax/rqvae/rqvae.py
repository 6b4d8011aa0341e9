"""Flax linen RQ-VAE: MLP encoder, residual quantizer with per-level codebooks, MLP decoder."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gr_jax.rqvae import nearest


class MLP(nn.Module):
  """Dense layers with SiLU between them (none after the last) and optional dropout."""
  widths: Sequence[int]
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x_NxD: jax.Array, train: bool = False) -> jax.Array:
    for i, width in enumerate(self.widths):
      x_NxD = nn.Dense(width, name=f"dense_{i}")(x_NxD)
      if i < len(self.widths) - 1:
        x_NxD = nn.silu(x_NxD)
        if self.dropout > 0:
          x_NxD = nn.Dropout(self.dropout, deterministic=not train)(x_NxD)
    return x_NxD


class ResidualQuantizer(nn.Module):
  """L codebooks; level l quantizes the residual left by levels < l (exact nearest code)."""
  codebook_sizes: Sequence[int]
  latent_dim: int

  def setup(self):
    init = nn.initializers.variance_scaling(1.0, "fan_in", "uniform")
    self.codebooks = [self.param(f"codebook_{l}", init, (k, self.latent_dim))
                      for l, k in enumerate(self.codebook_sizes)]

  def __call__(self, z_NxD: jax.Array) -> dict:
    """Returns codes_NxL, residuals_LxNxD (input of each level), codewords_LxNxD."""
    residual_NxD = z_NxD
    codes, residuals, codewords = [], [], []
    for codebook_KxD in self.codebooks:
      codes_N = nearest.nearest_codes(residual_NxD, codebook_KxD)
      e_NxD = jnp.take(codebook_KxD, codes_N, axis=0)
      residuals.append(residual_NxD)
      codewords.append(e_NxD)
      codes.append(codes_N)
      residual_NxD = residual_NxD - jax.lax.stop_gradient(e_NxD)
    return dict(codes_NxL=jnp.stack(codes, axis=1), residuals_LxNxD=jnp.stack(residuals),
                codewords_LxNxD=jnp.stack(codewords))

  def lookup(self, codes_NxL: jax.Array) -> jax.Array:
    """Per-level codewords [L, N, D] of given codes."""
    return jnp.stack([jnp.take(cb, codes_NxL[:, l], axis=0) for l, cb in enumerate(self.codebooks)])


def quantization_losses(residuals_LxNxD, codewords_LxNxD, beta: float):
  """Per-level codebook loss ||sg[r]-e||^2 and commitment loss ||r-sg[e]||^2 (means over N)."""
  sg = jax.lax.stop_gradient
  codebook_L = jnp.mean(jnp.sum((sg(residuals_LxNxD) - codewords_LxNxD) ** 2, -1), -1)
  commit_L = jnp.mean(jnp.sum((residuals_LxNxD - sg(codewords_LxNxD)) ** 2, -1), -1)
  return codebook_L, beta * commit_L


class RQVAE(nn.Module):
  """Encoder -> residual quantization (straight-through) -> decoder."""
  input_dim: int
  latent_dim: int = 32
  encoder_widths: Sequence[int] = (512, 256, 128)
  codebook_sizes: Sequence[int] = (256, 256, 256)
  dropout: float = 0.0

  def setup(self):
    self.encoder = MLP(tuple(self.encoder_widths) + (self.latent_dim,), self.dropout)
    self.decoder = MLP(tuple(reversed(self.encoder_widths)) + (self.input_dim,), self.dropout)
    self.quantizer = ResidualQuantizer(tuple(self.codebook_sizes), self.latent_dim)

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
    zq_st_NxD = z_NxD + jax.lax.stop_gradient(zq_NxD - z_NxD)  # Straight-through estimator.
    out.update(z_NxD=z_NxD, zq_NxD=zq_NxD, recon_NxD=self.decode(zq_st_NxD, train))
    return out

  def recon_by_depth(self, x_NxD: jax.Array) -> jax.Array:
    """Reconstructions [L, N, D] decoded from the first d=1..L codewords."""
    out = self.quantize(self.encode(x_NxD))
    partial_LxNxD = jnp.cumsum(out["codewords_LxNxD"], axis=0)
    return jax.vmap(self.decode)(partial_LxNxD)
