"""3-level residual nearest-codeword search: gr_jax's jitted chunked search vs torch.cdist vs numpy.

  python benchmarks/bench_quantize.py [--items 200000] [--dim 64] [--codes 4096,2048,1024]

Every side quantizes the same fp32 items against the same codebooks, level by level
(level l searches the residual left by levels < l) and must return identical codes:
* jax: `gr_jax.rqvae.nearest.residual_quantize` (one jit; ||x||^2 - 2 x.c + ||c||^2 in
  row blocks sized to stay cache-resident, so memory is bounded for any N and K);
* torch: what peer RQ-VAE code does, `torch.cdist(x, c)` + `argmin` per level, in chunks
  of `--torch-chunk` rows (all CPU threads);
* numpy: brute force, the same expansion in chunks with a float64-free argmin.
FLOP accounting (`gr_jax.perf`): model FLOPs = 2 * N * D * sum K per run (2 * D * sum K per
item), the same for every side; each side's achieved GFLOP/s and its share of the fp32 matmul
peak measured in the same run (jitted `--peak_size`^3 matmul, best of 5). One warm-up
per side, then the median of `--repeats` alternating rounds. The machine may be shared:
compare ratios within one run. torch is imported lazily (an optional extra).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from gr_jax import io_utils
from gr_jax import perf


def jax_search(x, books):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from gr_jax.rqvae import nearest  # pylint: disable=g-import-not-at-top
  x_j = jax.device_put(jnp.asarray(x))
  books_j = [jax.device_put(jnp.asarray(b)) for b in books]

  def run():
    codes, _ = nearest.residual_quantize(x_j, books_j)
    return np.asarray(codes.block_until_ready())
  return run


def torch_search(x, books, chunk: int):
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(len(os.sched_getaffinity(0)))
  x_t = torch.from_numpy(x)
  books_t = [torch.from_numpy(b) for b in books]

  def run():
    with torch.no_grad():
      residual = x_t.clone()
      codes = []
      for cb in books_t:
        level = torch.empty(residual.shape[0], dtype=torch.int64)
        for i in range(0, residual.shape[0], chunk):
          level[i:i + chunk] = torch.argmin(torch.cdist(residual[i:i + chunk], cb), dim=1)
        residual = residual - cb[level]
        codes.append(level)
      return torch.stack(codes, 1).numpy()
  return run


def numpy_search(x, books, chunk: int = 4096):
  def run():
    residual = x.copy()
    codes = []
    for cb in books:
      cc = np.sum(cb * cb, axis=1)
      level = np.empty(residual.shape[0], np.int64)
      for i in range(0, residual.shape[0], chunk):
        level[i:i + chunk] = np.argmin(cc[None] - 2.0 * residual[i:i + chunk] @ cb.T, axis=1)
      residual = residual - cb[level]
      codes.append(level)
    return np.stack(codes, 1)
  return run


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--items", type=int, default=200_000)
  parser.add_argument("--dim", type=int, default=64)
  parser.add_argument("--codes", default="4096,2048,1024")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--torch-chunk", type=int, default=4096)
  parser.add_argument("--skip-numpy", action="store_true")
  parser.add_argument("--peak_size", type=int, default=perf.PEAK_MATMUL_SIZE,
                      help="n of the n^3 fp32 matmul that measures the peak.")
  parser.add_argument("--json", default=None, help="Also write the numbers here.")
  args = parser.parse_args()

  rng = np.random.default_rng(0)
  sizes = [int(k) for k in args.codes.split(",")]
  x = rng.standard_normal((args.items, args.dim)).astype(np.float32)
  # Codebooks at the scale of each level's residual, like a trained RQ-VAE.
  books, scale = [], 1.0
  for k in sizes:
    books.append((scale * rng.standard_normal((k, args.dim))).astype(np.float32))
    scale *= 0.5
  flops = perf.nearest_code_flops(args.items, args.dim, sizes)

  sides = {"jax": jax_search(x, books), "torch_cdist": torch_search(x, books, args.torch_chunk)}
  if not args.skip_numpy:
    sides["numpy"] = numpy_search(x, books)
  codes = {k: fn() for k, fn in sides.items()}  # Warm-up (jit compile) + the codes to compare.
  ref = codes["jax"]
  agree = {k: float(np.mean(np.all(v == ref, axis=1))) for k, v in codes.items()}
  times = {k: [] for k in sides}
  for _ in range(args.repeats):
    for k, fn in sides.items():
      start = time.perf_counter()
      fn()
      times[k].append(time.perf_counter() - start)
  med = {k: statistics.median(v) for k, v in times.items()}
  peak = perf.matmul_peak_gflops(args.peak_size)
  # Per item: FLOPs of one item, items/s.
  reports = {k: perf.share_of_peak(flops / args.items, args.items / t, peak) for k, t in med.items()}
  import jax  # pylint: disable=g-import-not-at-top
  result = {
      "items": args.items, "dim": args.dim, "codes": sizes, "device": str(jax.devices()[0]),
      "cpus": len(os.sched_getaffinity(0)), "seconds": med,
      "gflops": {k: r["gflops"] for k, r in reports.items()}, "peak_gflops": peak,
      "jax_fraction_of_peak": reports["jax"]["share_of_peak"], "flops": reports,
      "speedup_vs_torch_cdist": med["torch_cdist"] / med["jax"],
      "agreement_with_jax": agree,
  }
  if "numpy" in med:
    result["speedup_vs_numpy"] = med["numpy"] / med["jax"]
  print(f"{args.items} items x dim {args.dim}, codebooks {sizes} ({flops / 1e9:.1f} GFLOP/run), "
        f"{result['cpus']} CPU(s), device {result['device']}")
  for k, t in med.items():
    print(f"  {k:12s} {t:8.3f} s  {args.items / t:10.0f} items/s  codes equal to jax: "
          f"{agree[k] * 100:.3f}% of items")
    print(perf.format_share(k, reports[k], "item"))
  print(f"  fp32 matmul peak (jitted {args.peak_size}^3): {peak:.1f} GFLOP/s")
  print(f"  jax vs torch.cdist+argmin: {result['speedup_vs_torch_cdist']:.2f}x"
        + (f"; jax vs numpy brute force: {result['speedup_vs_numpy']:.2f}x"
           if "speedup_vs_numpy" in result else ""))
  if args.json:
    io_utils.atomic_write_json(args.json, result, indent=2)


if __name__ == "__main__":
  main()
