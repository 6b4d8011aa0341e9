"""MACRec implicit alignment: InfoNCE between mean-pooled encodings of an item's text and image SIDs."""

from __future__ import annotations

import jax
import jax.numpy as jnp

DEFAULT_TEMPERATURE = 0.1  # MACRec: tau = 0.1 for every contrastive loss.
DEFAULT_WEIGHT = 0.01  # MACRec: lambda_implicit = 0.01.


def mean_pool(encoded_BxLxE: jax.Array, mask_BxL: jax.Array) -> jax.Array:
  """Mean of the encoder outputs over non-padding positions -> [B, E] float32."""
  mask = mask_BxL.astype(jnp.float32)[:, :, None]
  total = jnp.sum(encoded_BxLxE.astype(jnp.float32) * mask, axis=1)
  return total / jnp.maximum(jnp.sum(mask, axis=1), 1.0)


def info_nce(a_NxD: jax.Array, b_NxD: jax.Array, temperature: float = DEFAULT_TEMPERATURE,
             normalize: bool = True) -> jax.Array:
  """Symmetric in-batch InfoNCE, L(a->b) + L(b->a); row i of a and b is a positive pair.

  MACRec writes the similarity as an inner product; with `normalize` (the
  default) the vectors are L2-normalised first (cosine similarity), the usual
  reading of InfoNCE at tau = 0.1 -- raw T5 encoder outputs have norms of
  ~sqrt(emb_dim), which would make logits of several hundred / tau.
  """
  a = a_NxD.astype(jnp.float32)
  b = b_NxD.astype(jnp.float32)
  if normalize:
    a = a / jnp.maximum(jnp.linalg.norm(a, axis=-1, keepdims=True), 1e-6)
    b = b / jnp.maximum(jnp.linalg.norm(b, axis=-1, keepdims=True), 1e-6)
  logits_NxN = a @ b.T / temperature
  labels = jnp.arange(a.shape[0])
  a2b = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits_NxN, axis=1), labels[:, None], 1))
  b2a = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits_NxN.T, axis=1), labels[:, None], 1))
  return a2b + b2a


def implicit_alignment_loss(encode_fn, text_tokens_NxL: jax.Array, image_tokens_NxL: jax.Array,
                            temperature: float = DEFAULT_TEMPERATURE,
                            normalize: bool = True) -> jax.Array:
  """MACRec L_implicit for N items: encode each item's text-SID and image-SID token sequences
  (`encode_fn(tokens) -> [N, L, E]`, 0 = padding), mean-pool, symmetric InfoNCE."""
  e_text = mean_pool(encode_fn(text_tokens_NxL), text_tokens_NxL > 0)
  e_image = mean_pool(encode_fn(image_tokens_NxL), image_tokens_NxL > 0)
  return info_nce(e_text, e_image, temperature, normalize)
