"""PNG plots of a tokenizer run: collisions, per-level usage/perplexity, recon cosine vs depth."""

from __future__ import annotations

import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

from gr_jax import io_utils  # pylint: disable=wrong-import-position


def _save(fig, path: str) -> None:
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
  plt.close(fig)
  with io_utils.atomic_open(path, "wb") as f:
    f.write(buf.getvalue())


def write_plots(report: dict, out_dir: str) -> list[str]:
  """Writes collision_rate.png, codebook_usage.png, recon_cosine.png; returns their paths."""
  mods = report["modalities"]
  names = list(mods)
  paths = []

  fig, ax = plt.subplots(figsize=(4 + len(names), 3.2))
  width = 0.38
  for j, key in enumerate(("collision_rate_before", "collision_rate_after")):
    ax.bar([i + (j - 0.5) * width for i in range(len(names))], [mods[m][key] for m in names],
           width, label=key.replace("collision_rate_", ""))
  ax.set_xticks(range(len(names)), names)
  ax.set_ylabel("collision rate")
  ax.set_title(f"{report['run']}: items sharing a SID")
  ax.legend()
  paths.append(os.path.join(out_dir, "collision_rate.png"))
  _save(fig, paths[-1])

  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
  for m in names:
    levels = range(1, len(mods[m]["codebook_usage"]) + 1)
    ax1.plot(levels, mods[m]["codebook_usage"], "o-", label=m)
    ax2.plot(levels, mods[m]["perplexity"], "o-", label=m)
  ax1.set(xlabel="level", ylabel="fraction of codes used", title="codebook usage", ylim=(0, 1.05))
  ax2.set(xlabel="level", ylabel="perplexity", title="code perplexity")
  ax1.legend()
  paths.append(os.path.join(out_dir, "codebook_usage.png"))
  _save(fig, paths[-1])

  fig, ax = plt.subplots(figsize=(4.5, 3.2))
  for m in names:
    cos = mods[m]["recon_cosine_by_depth"]
    ax.plot(range(1, len(cos) + 1), cos, "o-", label=m)
  ax.set(xlabel="quantization depth", ylabel="reconstruction cosine",
         title=f"{report['run']}: recon cosine vs depth")
  ax.legend()
  paths.append(os.path.join(out_dir, "recon_cosine.png"))
  _save(fig, paths[-1])
  return paths
