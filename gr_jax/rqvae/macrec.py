"""MACRec cross-modal terms: pseudo-label InfoNCE on residuals and quantized-latent alignment."""

from __future__ import annotations

import jax
import jax.numpy as jnp

_NEG = -1e9


def _normalize(x_NxD):
  # rsqrt(|x|^2 + eps): finite gradient at x = 0 (a residual a codeword matched exactly).
  return x_NxD * jax.lax.rsqrt(jnp.sum(x_NxD * x_NxD, axis=-1, keepdims=True) + 1e-12)


def pseudo_label_infonce(r_BxD: jax.Array, labels_B: jax.Array, temperature: float,
                         weight_B: jax.Array | None = None, cosine: bool = False) -> jax.Array:
  """InfoNCE where positives of anchor i are the other batch rows sharing its pseudo-label.

  MACRec Eq. (con): the text residual of item i is pulled towards text residuals of items
  with the same *visual* pseudo-label (and vice versa). Similarities are inner products
  <r_i, r_j> / tau as in the paper (cosines with `cosine=True`);
  the denominator runs over every other row of the batch; an anchor with several positives
  averages -log p over them (supervised-contrastive form); anchors with none are skipped.
  `weight_B` masks padded rows (0) out of anchors, positives and negatives.
  """
  b = r_BxD.shape[0]
  weight_B = jnp.ones((b,), r_BxD.dtype) if weight_B is None else weight_B
  if cosine:
    r_BxD = _normalize(r_BxD)
  logits_BxB = (r_BxD @ r_BxD.T) / temperature
  valid_BxB = (weight_B[:, None] * weight_B[None, :] > 0) & ~jnp.eye(b, dtype=bool)
  logits_BxB = jnp.where(valid_BxB, logits_BxB, _NEG)
  logp_BxB = jax.nn.log_softmax(logits_BxB, axis=-1)
  pos_BxB = (labels_B[:, None] == labels_B[None, :]) & valid_BxB
  n_pos_B = jnp.sum(pos_BxB, axis=-1)
  per_anchor_B = -jnp.sum(jnp.where(pos_BxB, logp_BxB, 0.0), -1) / jnp.maximum(n_pos_B, 1)
  has_B = (n_pos_B > 0).astype(r_BxD.dtype)
  return jnp.sum(per_anchor_B * has_B) / jnp.maximum(jnp.sum(has_B), 1.0)


def paired_infonce(a_BxD: jax.Array, b_BxD: jax.Array, temperature: float,
                   weight_B: jax.Array | None = None, cosine: bool = False) -> jax.Array:
  """Symmetric InfoNCE (a->b plus b->a): row i of a and row i of b are the positive pair.

  Similarities are inner products / tau (MACRec L_align); cosines with `cosine=True`.
  """
  n = a_BxD.shape[0]
  weight_B = jnp.ones((n,), a_BxD.dtype) if weight_B is None else weight_B
  if cosine:
    a_BxD, b_BxD = _normalize(a_BxD), _normalize(b_BxD)
  logits_BxB = (a_BxD @ b_BxD.T) / temperature
  col_ok_BxB = jnp.broadcast_to(weight_B[None, :] > 0, (n, n))
  total = 0.0
  for lg in (logits_BxB, logits_BxB.T):
    logp = jax.nn.log_softmax(jnp.where(col_ok_BxB, lg, _NEG), axis=-1)
    nll_B = -jnp.diagonal(logp)
    total = total + jnp.sum(nll_B * weight_B) / jnp.maximum(jnp.sum(weight_B), 1.0)
  return total


def disagreement(codes_N: jax.Array, labels_N: jax.Array) -> float:
  """Pair disagreement: of item pairs sharing a pseudo-label, the fraction with different codes."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  codes_N, labels_N = np.asarray(codes_N), np.asarray(labels_N)
  same, agree = 0, 0
  for lab in np.unique(labels_N):
    members = codes_N[labels_N == lab]
    m = len(members)
    if m < 2:
      continue
    _, counts = np.unique(members, return_counts=True)
    same += m * (m - 1) // 2
    agree += int(np.sum(counts * (counts - 1) // 2))
  return 1.0 - agree / same if same else 0.0
