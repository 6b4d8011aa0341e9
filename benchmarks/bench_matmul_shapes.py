"""The matmul ceiling of each hot path: XLA (jitted `jnp.matmul`) vs PyTorch at the benchmarks' shapes.

  python benchmarks/bench_matmul_shapes.py [--repeats 5] [--min_time 0.3] [--json out.json]

A hot path cannot reach a larger share of the machine's peak than its own matrix shapes
reach alone. This times every dominant matmul of the default benchmark configs, once with
XLA (what gr_jax runs) and once with `torch.matmul` (oneDNN/MKL, what the PyTorch baselines
run), and prints GFLOP/s and the share of the same-run 2048^3 XLA peak (`gr_jax.perf`):

  text_embed   all-MiniLM-L6-v2 in `bench_embed.py`: 8,192 tokens per batch, d 384, MLP 1,536,
               12 heads of 32 over 64-token texts;
  train        the MACRec-size T5 of `bench_train.py`: 64 x 128 input tokens, d 128, 6 x 64
               heads, MLP 1,024, 5,120-token vocabulary;
  decode       `bench_decode.py`: 32 users x 20 beams = 640 decoder rows per step;
  quantize     `bench_quantize.py`: a chunk of 4,096 rows x 64 dims against 4,096 codewords.

Shares are of the XLA square peak, for both libraries, so the two columns compare directly.
Run it on an idle machine (nothing else running); compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from gr_jax import io_utils
from gr_jax import perf

# (path, what, batch, M, K, N): C[batch, M, N] = A[batch, M, K] @ B[batch, K, N].
SHAPES = [
    ("text_embed", "q / k / v / attention out", 1, 8192, 384, 384),
    ("text_embed", "MLP in", 1, 8192, 384, 1536),
    ("text_embed", "MLP out", 1, 8192, 1536, 384),
    ("text_embed", "attention scores (128 texts x 12 heads)", 1536, 64, 32, 64),
    ("text_embed", "attention values", 1536, 64, 64, 32),
    ("train", "q / k / v", 1, 8192, 128, 384),
    ("train", "attention out", 1, 8192, 384, 128),
    ("train", "gated MLP in (one of two)", 1, 8192, 128, 1024),
    ("train", "MLP out", 1, 8192, 1024, 128),
    ("train", "attention scores (64 examples x 6 heads)", 384, 128, 64, 128),
    ("train", "decoder logits", 1, 512, 128, 5120),
    ("decode", "q / k / v (one step)", 1, 640, 128, 384),
    ("decode", "gated MLP in (one of two)", 1, 640, 128, 1024),
    ("decode", "MLP out", 1, 640, 1024, 128),
    ("decode", "logits", 1, 640, 128, 5120),
    ("quantize", "distances to 4,096 codewords", 1, 4096, 64, 4096),
]


def _time(fn, min_time: float, repeats: int) -> float:
  """Median seconds per call over `repeats` rounds of >= `min_time` each (after a warm-up)."""
  fn()
  start, calls = time.perf_counter(), 0
  while time.perf_counter() - start < min_time / 4:
    fn()
    calls += 1
  per_round = max(1, int(calls * 4))
  rounds = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(per_round):
      fn()
    rounds.append((time.perf_counter() - start) / per_round)
  return statistics.median(rounds)


def xla_matmul(a: np.ndarray, b: np.ndarray):
  """A no-argument callable running a jitted matmul on device-resident operands to completion."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  fn = jax.jit(jnp.matmul)
  da, db = jax.device_put(a), jax.device_put(b)
  return lambda: fn(da, db).block_until_ready()


def torch_matmul(a: np.ndarray, b: np.ndarray):
  """The same product with `torch.matmul` (all cores)."""
  import torch  # pylint: disable=g-import-not-at-top
  ta, tb = torch.from_numpy(a), torch.from_numpy(b)

  def run():
    with torch.inference_mode():
      torch.matmul(ta, tb)
  return run


def measure(shapes=SHAPES, min_time: float = 0.3, repeats: int = 5, skip_torch: bool = False,
            peak_size: int = perf.PEAK_MATMUL_SIZE) -> dict:
  """{'peak_gflops', 'rows': [...]} with each shape's GFLOP/s and share of peak per library."""
  if not skip_torch:
    import torch  # pylint: disable=g-import-not-at-top
    torch.set_num_threads(len(os.sched_getaffinity(0)))
  peak = perf.matmul_peak_gflops(peak_size)
  rng = np.random.default_rng(0)
  rows = []
  for path, what, batch, m, k, n in shapes:
    lead = (batch,) if batch > 1 else ()
    a = rng.standard_normal(lead + (m, k), dtype=np.float32)
    b = rng.standard_normal(lead + (k, n), dtype=np.float32)
    flops = 2.0 * batch * m * k * n
    row = {"path": path, "what": what, "shape": [batch, m, k, n], "mflop": flops / 1e6}
    libs = {"xla": xla_matmul} if skip_torch else {"xla": xla_matmul, "torch": torch_matmul}
    for lib, make in libs.items():
      seconds = _time(make(a, b), min_time, repeats)
      row[lib] = perf.share_of_peak(flops, 1.0 / seconds, peak)
    rows.append(row)
  return {"peak_gflops": peak, "peak_size": peak_size, "rows": rows}


def shape_label(shape) -> str:
  """'[batch] M x K x N' (batch left out when 1) of a row's [batch, M, K, N]."""
  b, m, k, n = shape
  return (f"[{b}] " if b > 1 else "") + f"{m} x {k} x {n}"


def select_shapes(paths) -> list:
  """The rows of SHAPES whose path is in `paths` (all of them when `paths` is empty)."""
  keep = set(paths)
  return [s for s in SHAPES if not keep or s[0] in keep]


def add_timing_args(parser: argparse.ArgumentParser) -> None:
  """The timing and selection flags this script shares with bench_cpu_dot_backend.py."""
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--min_time", type=float, default=0.3, help="Seconds per timed round.")
  parser.add_argument("--skip-torch", action="store_true")
  parser.add_argument("--paths", default="", help="Comma-separated paths to keep (default: all).")


def parse_paths(text: str) -> list[str]:
  """The `--paths` value of `add_timing_args` as a list ('' -> [], i.e. every path)."""
  return [p for p in text.split(",") if p]


def _fmt_table(result: dict) -> str:
  lines = [f"fp32 matmul peak (XLA, {result['peak_size']}^3, same run): "
           f"{result['peak_gflops']:.1f} GFLOP/s",
           "| path | matmul | [batch] M x K x N | XLA GFLOP/s (% peak) | torch GFLOP/s (% peak) | "
           "torch / XLA |", "|---|---|---|---:|---:|---:|"]
  for r in result["rows"]:
    shape = shape_label(r["shape"])
    x = r["xla"]
    cell_x = f"{x['gflops']:.1f} ({100 * x['share_of_peak']:.0f} %)"
    if "torch" in r:
      t = r["torch"]
      cell_t = f"{t['gflops']:.1f} ({100 * t['share_of_peak']:.0f} %)"
      ratio = f"{t['gflops'] / x['gflops']:.2f}x"
    else:
      cell_t, ratio = "–", "–"
    lines.append(f"| {r['path']} | {r['what']} | {shape} | {cell_x} | {cell_t} | {ratio} |")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  add_timing_args(parser)
  parser.add_argument("--peak_size", type=int, default=perf.PEAK_MATMUL_SIZE)
  parser.add_argument("--json", default=None, help="Also write the numbers here.")
  args = parser.parse_args()
  shapes = select_shapes(parse_paths(args.paths))
  result = measure(shapes, args.min_time, args.repeats, args.skip_torch, args.peak_size)
  print(_fmt_table(result))
  if args.json:
    io_utils.atomic_write_json(args.json, result, indent=1)


if __name__ == "__main__":
  main()
