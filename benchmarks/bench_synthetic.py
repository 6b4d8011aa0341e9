"""Times synthetic catalog generation at benchmark scale (default 1M items, no images).

Usage: python benchmarks/bench_synthetic.py [--items 1000000] [--users 3000 100000]
       [--demo] [--write]

Baseline: a straightforward per-item pure-Python generator (random module + str.format,
one Item at a time) producing the same kinds of fields; it runs on --baseline_items and its
rate is compared with the vectorised generator's.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import tempfile
import time

from gr_jax.data import layout
from gr_jax.data import schema
from gr_jax.data import synthetic
from gr_jax.data import synthetic_text


def naive_items(n: int, seed: int = 0) -> list[schema.Item]:
  """Per-item Python loop: the obvious way to write the generator."""
  rng = random.Random(seed)
  cats = [(d, c) for d in synthetic_text.DEPARTMENT_NAMES for c in synthetic_text.DEPARTMENTS[d][1]]
  items = []
  for k in range(n):
    dep, (cat, nouns, uses) = cats[rng.randrange(len(cats))]
    style = rng.choice(synthetic_text.STYLE_NAMES)
    syn = rng.choice(synthetic_text.STYLES[style][0])
    material = rng.choice(synthetic_text.MATERIAL_NAMES)
    audience = rng.choice(synthetic_text.AUDIENCE_NAMES)
    tier = rng.choice(synthetic_text.TIER_NAMES)
    brand = rng.choice(synthetic_text.BRAND_NAMES)
    noun = rng.choice(nouns)
    title = "{} {} {} {} {}{}-{}".format(brand, syn.title(), material.title(), noun.title(),
                                         rng.choice("ABCDEFGH"), rng.choice("KLMNPRST"),
                                         rng.randrange(100, 1000))
    desc = " ".join([
        "This {} {}.".format(noun, rng.choice(uses)),
        "A {} design that {}.".format(syn, synthetic_text.STYLES[style][1]),
        "Made from {}.".format(material),
        rng.choice(synthetic_text.AUDIENCES[audience][1]),
        rng.choice(synthetic_text.TIERS[tier][1])])
    items.append(schema.Item(f"i{k:07d}", title, desc, brand, [dep, cat], None))
  return items


def _time(fn, *args, **kwargs):
  gc.collect()
  start = time.perf_counter()
  out = fn(*args, **kwargs)
  return out, time.perf_counter() - start


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--items", type=int, default=1_000_000)
  parser.add_argument("--users", type=int, nargs="+", default=[3000, 100_000])
  parser.add_argument("--baseline_items", type=int, default=100_000)
  parser.add_argument("--demo", action="store_true",
                      help="also time the default demo (2000 items, 3000 users, 64px PNGs)")
  parser.add_argument("--write", action="store_true",
                      help="also time writing items.jsonl / sequences.jsonl for the first --users")
  args = parser.parse_args()

  print(f"machine: {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f}")
  for n_users in args.users:
    cat, secs = _time(synthetic.generate, args.items, n_users, seed=0, progress=False)
    inter = sum(len(s) for _, s in cat.sequences)
    print(f"generate: {args.items:,} items, {n_users:,} users ({inter:,} interactions), "
          f"no images: {secs:.2f} s  ({args.items / secs:,.0f} items/s)")
    if args.write and n_users == args.users[0]:
      with tempfile.TemporaryDirectory() as d:
        _, w_items = _time(schema.write_items, d, cat.items)
        _, w_seqs = _time(schema.write_sequences, d, cat.sequences)
        size = os.path.getsize(os.path.join(d, layout.ITEMS)) / 2**20
      print(f"  write items.jsonl ({size:.0f} MiB): {w_items:.2f} s; "
            f"sequences.jsonl: {w_seqs:.2f} s")
    del cat

  base, b_secs = _time(naive_items, args.baseline_items)
  del base
  _, v_secs = _time(synthetic.generate, args.baseline_items, 0, seed=0, progress=False)
  print(f"baseline per-item Python loop: {args.baseline_items:,} items in {b_secs:.2f} s "
        f"({args.baseline_items / b_secs:,.0f} items/s); vectorised generate on the same count "
        f"(no users): {v_secs:.2f} s ({args.baseline_items / v_secs:,.0f} items/s, "
        f"{b_secs / v_secs:.1f}x)")

  if args.demo:
    with tempfile.TemporaryDirectory() as d:
      _, secs = _time(synthetic.generate, 2000, 3000, seed=0, progress=False)
      _, i_secs = _time(synthetic.generate, 2000, 3000, seed=0,
                        image_dir=os.path.join(d, "images"), progress=False)
    print(f"demo: 2,000 items / 3,000 users: {secs:.2f} s without images, "
          f"{i_secs:.2f} s with 2,000 64px PNGs")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
