"""FLOP accounting for the benchmarks: the machine's matmul peak, model FLOPs, share of peak.

Model FLOPs count the matrix multiplications a minimal implementation must do
(2 FLOPs per multiply-add), as in the MFU convention: projections, MLPs, output
logits and attention scores/values; element-wise work (norms, softmax,
activations) is left out. Functions take any object with the config's fields
(`gr_jax.model.t5.T5Config`, `gr_jax.encoders.bert.BertConfig`), so this module
imports nothing of the model. `compiled_flops` gives XLA's own count of a jitted
function for networks counted no other way (EfficientNet) and for cross-checks.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

PEAK_MATMUL_SIZE = 2048


def matmul_peak_gflops(n: int = PEAK_MATMUL_SIZE, repeats: int = 5, dtype: str = "float32") -> float:
  """GFLOP/s of a jitted n x n x n matmul on the default device, best of `repeats` (after a warm-up).

  This is the practical matmul peak to measure a benchmark against, taken in the
  same run so load from other jobs affects both alike.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  if n < 1 or repeats < 1:
    raise ValueError(f"need n >= 1 and repeats >= 1, got n={n}, repeats={repeats}")
  rng = np.random.default_rng(0)
  a = jnp.asarray(rng.standard_normal((n, n)), dtype)
  b = jnp.asarray(rng.standard_normal((n, n)), dtype)
  f = jax.jit(lambda a, b: jnp.dot(a, b, precision=jax.lax.Precision.HIGHEST))
  f(a, b).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    f(a, b).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2.0 * n ** 3 / max(best, 1e-12) / 1e9


def share_of_peak(flops_per_unit: float, units_per_s: float, peak_gflops: float) -> dict:
  """{'flops_per_unit', 'gflops' (achieved GFLOP/s), 'share_of_peak' (0..1)} of one throughput."""
  if peak_gflops <= 0:
    raise ValueError(f"peak_gflops must be positive, got {peak_gflops}")
  gflops = flops_per_unit * units_per_s / 1e9
  return {"flops_per_unit": float(flops_per_unit), "gflops": float(gflops),
          "share_of_peak": float(gflops / peak_gflops)}


def format_share(name: str, report: dict, unit: str) -> str:
  """One printed line of a `share_of_peak` report."""
  return (f"  {name:24s} {report['flops_per_unit'] / 1e6:10.1f} MFLOP/{unit}  "
          f"{report['gflops']:7.1f} GFLOP/s  {report['share_of_peak'] * 100:5.1f}% of peak")


def compiled_flops(fn: Callable, *args: Any, **kwargs: Any) -> float:
  """XLA's FLOP count of `jax.jit(fn)(*args, **kwargs)` (all ops, element-wise included)."""
  import jax  # pylint: disable=g-import-not-at-top
  cost = jax.jit(fn).lower(*args, **kwargs).compile().cost_analysis()
  if isinstance(cost, (list, tuple)):  # Older jax: one dict per device program.
    cost = cost[0]
  if not cost or "flops" not in cost:
    raise RuntimeError("XLA reported no FLOP count for this function on this backend")
  return float(cost["flops"])


# ---- T5 encoder-decoder ------------------------------------------------------------------------

def _t5_dims(cfg) -> tuple[int, int, int, int]:
  """(d_model, heads x head_dim, mlp_dim, number of MLP input matrices)."""
  return cfg.emb_dim, cfg.num_heads * cfg.head_dim, cfg.mlp_dim, len(tuple(cfg.mlp_activations))


def _mlp(cfg) -> float:
  d, _, f, n_in = _t5_dims(cfg)
  return 2.0 * (n_in + 1) * d * f  # wi_0 .. wi_{n-1}, wo.


def t5_encoder_flops(cfg, length: int) -> float:
  """Forward FLOPs of the encoder over one sequence of `length` tokens."""
  d, hd, _, _ = _t5_dims(cfg)
  per_token = 2.0 * 4 * d * hd + 2.0 * 2 * length * hd + _mlp(cfg)  # q k v o; q.k and w.v.
  return cfg.num_encoder_layers * length * per_token


def t5_cross_kv_flops(cfg, encoder_length: int) -> float:
  """FLOPs of every decoder layer's cross-attention keys and values of one encoding."""
  d, hd, _, _ = _t5_dims(cfg)
  return cfg.num_decoder_layers * encoder_length * 2.0 * 2 * d * hd


def t5_decoder_token_flops(cfg, encoder_length: int, num_keys: int) -> float:
  """Decoder FLOPs of one target token attending `num_keys` decoder positions, logits included
  (cross-attention keys/values excluded: `t5_cross_kv_flops`)."""
  d, hd, _, _ = _t5_dims(cfg)
  per_layer = (2.0 * 4 * d * hd + 2.0 * 2 * num_keys * hd  # Self-attention.
               + 2.0 * 2 * d * hd + 2.0 * 2 * encoder_length * hd  # Cross: q, o; q.k, w.v.
               + _mlp(cfg))
  return cfg.num_decoder_layers * per_layer + 2.0 * d * cfg.vocab_size


def t5_forward_flops(cfg, inputs: int, targets: int) -> float:
  """Teacher-forced forward FLOPs of one example (`inputs` encoder, `targets` decoder tokens).

  Decoder self-attention is counted over all `targets` keys, as a dense
  implementation (and T5X) computes it under the causal mask.
  """
  return (t5_encoder_flops(cfg, inputs) + t5_cross_kv_flops(cfg, inputs)
          + targets * t5_decoder_token_flops(cfg, inputs, targets))


def t5_train_flops(cfg, inputs: int, targets: int, batch: int = 1) -> float:
  """FLOPs of one training step: forward + backward = 3 x forward (the usual MFU count)."""
  return 3.0 * batch * t5_forward_flops(cfg, inputs, targets)


def beam_schedule(beam_size: int, sid_tokens_NxL) -> list[int]:
  """Live beams per decode step of a trie-constrained beam search over the catalog `sid_tokens_NxL`.

  Step t (t = 0..L) feeds a prefix of t SID tokens: step 0 has the one root
  prefix; step t has min(beam, distinct prefixes of length t); step L scores eos
  after min(beam, N) complete SIDs.
  """
  sids = np.asarray(sid_tokens_NxL)
  if sids.ndim != 2 or sids.shape[0] == 0:
    raise ValueError(f"expected a non-empty [N, L] array of SID tokens, got shape {sids.shape}")
  out = [1]
  for t in range(1, sids.shape[1] + 1):
    out.append(min(beam_size, len(np.unique(sids[:, :t], axis=0))))
  return out


def t5_decode_flops(cfg, encoder_length: int, live_beams: Sequence[int]) -> float:
  """FLOPs one user must cost a cached beam search: the encoder and cross-attention keys/values
  once, then the decoder for each live beam of each step (`beam_schedule`), step t attending
  t + 1 decoder positions."""
  total = t5_encoder_flops(cfg, encoder_length) + t5_cross_kv_flops(cfg, encoder_length)
  for t, beams in enumerate(live_beams):
    total += beams * t5_decoder_token_flops(cfg, encoder_length, t + 1)
  return total


# ---- other networks ----------------------------------------------------------------------------

def bert_flops(cfg, lengths: Sequence[int]) -> float:
  """Forward FLOPs of a BERT encoder over sequences of the given token lengths (no padding)."""
  h, f = cfg.hidden_size, cfg.intermediate_size
  total = 0.0
  for n in lengths:
    per_token = 2.0 * 4 * h * h + 2.0 * 2 * n * h + 2.0 * 2 * h * f
    total += cfg.num_hidden_layers * n * per_token
  return total


def nearest_code_flops(num_rows: int, dim: int, codebook_sizes: Sequence[int]) -> float:
  """FLOPs of exact nearest-codeword search, one x.c^T per level: 2 N D sum(K)."""
  return 2.0 * num_rows * dim * float(sum(codebook_sizes))
