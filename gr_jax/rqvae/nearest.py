"""The one jitted, chunked, exact nearest-codeword search (training, k-means and export)."""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

# Rows per block are chosen so one block of scores (rows x codes fp32) stays near this
# size: small enough to live in a core's L2 cache, large enough that the matmul is
# efficient. Memory is O(block) whatever the number of items.
DEFAULT_BLOCK_BYTES = 1 << 20
MIN_BLOCK_ROWS = 16
MAX_BLOCK_ROWS = 4096


def block_rows_for(num_codes: int, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
  """Rows per block so that a [rows, num_codes] fp32 score block is ~block_bytes."""
  rows = block_bytes // (4 * max(int(num_codes), 1))
  return int(min(max(rows, MIN_BLOCK_ROWS), MAX_BLOCK_ROWS))


def _block_search(x_RxD, codebook_KxD, cc_K):
  """Exact argmin_k ||x - c_k||^2 for one block; returns (codes_R, min score_R)."""
  # ||x||^2 is constant per row, so the argmin only needs ||c||^2 - 2 x.c.
  scores_RxK = cc_K[None, :] - 2.0 * jnp.dot(x_RxD, codebook_KxD.T,
                                             precision=lax.Precision.HIGHEST)
  best_R = jnp.min(scores_RxK, axis=-1)
  # First index attaining the minimum (numpy's tie rule); a plain vectorised int min
  # over a cache-resident block is much cheaper than XLA's variadic argmin reduce.
  iota_RxK = lax.broadcasted_iota(jnp.int32, scores_RxK.shape, 1)
  num_codes = codebook_KxD.shape[0]
  codes_R = jnp.min(jnp.where(scores_RxK == best_R[:, None], iota_RxK, num_codes), axis=-1)
  # A row whose scores are all NaN matches nothing: clamp so the index stays valid.
  return jnp.minimum(codes_R, num_codes - 1), best_R


@functools.partial(jax.jit, static_argnames=("block_rows", "return_distances"))
def nearest_codes(x_NxD: jax.Array, codebook_KxD: jax.Array, *, block_rows: int | None = None,
                  return_distances: bool = False):
  """Index of the nearest codeword (squared L2) for every row of `x_NxD`.

  Distances are ||x||^2 - 2 x.c^T + ||c||^2, computed block by block over the rows
  (`block_rows`, default from `block_rows_for`) so memory is bounded for any N and
  K; N need not be a multiple of the block. Ties go to the lowest code index.
  Returns codes_N (int32), and squared distances_N (fp32, clamped at 0) if asked.
  """
  x_NxD = lax.stop_gradient(x_NxD.astype(jnp.float32))
  codebook_KxD = lax.stop_gradient(codebook_KxD.astype(jnp.float32))
  n, d = x_NxD.shape
  num_codes = codebook_KxD.shape[0]
  rows = block_rows or block_rows_for(num_codes)
  rows = max(1, min(rows, n)) if n else 1
  cc_K = jnp.sum(codebook_KxD * codebook_KxD, axis=-1)
  n_main = (n // rows) * rows
  parts_codes, parts_best = [], []
  if n_main:
    blocks_BxRxD = x_NxD[:n_main].reshape(n_main // rows, rows, d)
    codes, best = lax.map(lambda xb: _block_search(xb, codebook_KxD, cc_K), blocks_BxRxD)
    parts_codes.append(codes.reshape(-1))
    parts_best.append(best.reshape(-1))
  if n > n_main:  # The ragged tail: one smaller block, still shape-static.
    codes, best = _block_search(x_NxD[n_main:], codebook_KxD, cc_K)
    parts_codes.append(codes)
    parts_best.append(best)
  if not parts_codes:
    codes_N = jnp.zeros((0,), jnp.int32)
    best_N = jnp.zeros((0,), jnp.float32)
  else:
    codes_N = jnp.concatenate(parts_codes) if len(parts_codes) > 1 else parts_codes[0]
    best_N = jnp.concatenate(parts_best) if len(parts_best) > 1 else parts_best[0]
  if not return_distances:
    return codes_N
  dist_N = jnp.maximum(best_N + jnp.sum(x_NxD * x_NxD, axis=-1), 0.0)
  return codes_N, dist_N


@functools.partial(jax.jit, static_argnames=("block_rows",))
def residual_quantize(x_NxD: jax.Array, codebooks: Sequence[jax.Array], *,
                      block_rows: int | None = None):
  """Residual quantization: codes_NxL and the final residual_NxD.

  Level l quantizes r_l with `nearest_codes`; r_{l+1} = r_l - C_l[code].
  """
  residual_NxD = x_NxD.astype(jnp.float32)
  codes = []
  for codebook_KxD in codebooks:
    codes_N = nearest_codes(residual_NxD, codebook_KxD, block_rows=block_rows)
    residual_NxD = residual_NxD - jnp.take(codebook_KxD.astype(jnp.float32), codes_N, axis=0)
    codes.append(codes_N)
  return jnp.stack(codes, axis=1), residual_NxD
