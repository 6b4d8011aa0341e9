"""XLA:CPU dot backends at the benchmarks' shapes: YNNPACK (jaxlib's default) vs Eigen.

  python benchmarks/bench_cpu_dot_backend.py [--repeats 5] [--min_time 0.3] [--paths train,decode]

jaxlib 0.10 fuses every CPU dot into a YNNPACK call (`ynn_fusion` in the compiled HLO);
`XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_dot` sends the dots back to
XLA's Eigen runtime instead. The flag must be set before jax starts, so this script runs
`bench_matmul_shapes.measure` in one child process per backend (one after the other, so
they never share the cores) and prints, per shape, GFLOP/s under each backend, the share of
the *default* backend's same-run 2048^3 peak, the Eigen / YNNPACK ratio and torch's for
reference (measured in the default child). It also reports which backend each child's
compiled HLO actually used, so a jaxlib whose flag does nothing shows up as "no effect".

Run it on an idle machine (nothing else running).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from gr_jax import io_utils

import bench_matmul_shapes  # Beside this script: `python benchmarks/...` puts it on sys.path.

EIGEN_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_dot"
BACKENDS = {"ynnpack (default)": "", "eigen": EIGEN_FLAG}

_CHILD = r"""
import json, sys
sys.path.insert(0, {bench_dir!r})
import jax, jax.numpy as jnp
import bench_matmul_shapes as b
hlo = jax.jit(jnp.matmul).lower(jnp.ones((64, 64)), jnp.ones((64, 64))).compile().as_text()
shapes = {shapes!r} or b.select_shapes({paths!r})
out = b.measure(shapes, {min_time!r}, {repeats!r}, skip_torch={skip_torch!r},
                peak_size={peak_size!r})
out["uses_ynn"] = "ynn" in hlo.lower()
json.dump(out, open({out_path!r}, "w"))
"""


def run_backend(xla_flags: str, paths: list[str], min_time: float, repeats: int,
                skip_torch: bool, shapes: list | None = None, peak_size: int = 2048) -> dict:
  """`bench_matmul_shapes.measure` in a fresh process with XLA_FLAGS extended by `xla_flags`.

  `shapes` (rows like `bench_matmul_shapes.SHAPES`) replaces the `paths` selection when given.
  """
  env = dict(os.environ)
  env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + xla_flags).strip()
  with tempfile.TemporaryDirectory() as tmp:
    out_path = os.path.join(tmp, "out.json")
    code = _CHILD.format(bench_dir=os.path.dirname(os.path.abspath(__file__)), paths=paths,
                         min_time=min_time, repeats=repeats, skip_torch=skip_torch,
                         shapes=list(shapes or []), peak_size=peak_size, out_path=out_path)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    with open(out_path) as f:
      return json.load(f)


def compare(results: dict[str, dict]) -> str:
  """A markdown table of both backends, shares of the default backend's peak."""
  default, eigen = results["ynnpack (default)"], results["eigen"]
  peak = default["peak_gflops"]
  lines = [f"fp32 2048^3 peak: YNNPACK {peak:.1f} GFLOP/s, Eigen {eigen['peak_gflops']:.1f} GFLOP/s "
           f"(Eigen / YNNPACK {eigen['peak_gflops'] / peak:.2f}x); HLO uses YNNPACK: default "
           f"{default['uses_ynn']}, with the flag {eigen['uses_ynn']}"
           + ("" if default["uses_ynn"] != eigen["uses_ynn"] else "  -> the flag had NO effect"),
           "| path | matmul | [batch] M x K x N | YNNPACK GFLOP/s (% peak) | Eigen GFLOP/s (% peak) "
           "| Eigen / YNNPACK | torch / YNNPACK |", "|---|---|---|---:|---:|---:|---:|"]
  for rd, re_ in zip(default["rows"], eigen["rows"]):
    shape = bench_matmul_shapes.shape_label(rd["shape"])
    gd, ge = rd["xla"]["gflops"], re_["xla"]["gflops"]
    torch = f"{rd['torch']['gflops'] / gd:.2f}x" if "torch" in rd else "–"
    lines.append(f"| {rd['path']} | {rd['what']} | {shape} | {gd:.1f} ({100 * gd / peak:.0f} %) | "
                 f"{ge:.1f} ({100 * ge / peak:.0f} %) | {ge / gd:.2f}x | {torch} |")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  bench_matmul_shapes.add_timing_args(parser)
  parser.add_argument("--json", default=None, help="Also write both backends' numbers here.")
  args = parser.parse_args()
  paths = bench_matmul_shapes.parse_paths(args.paths)
  results = {name: run_backend(flags, paths, args.min_time, args.repeats, args.skip_torch)
             for name, flags in BACKENDS.items()}
  print(compare(results))
  if args.json:
    io_utils.atomic_write_json(args.json, results, indent=1)


if __name__ == "__main__":
  main()
