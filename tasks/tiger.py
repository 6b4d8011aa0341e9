"""TIGER baseline: one text-SID sequential recommendation task."""

from __future__ import annotations

from gr_jax_tasks import sources

TASKS = ("seqrec",)
MODALITY = "text"
SEQREC = {"seqrec": MODALITY}


def build(view: sources.DatasetView, cfg: sources.DatasetConfig, task: str, split: str) -> list[dict]:
  """Examples of the TIGER task."""
  if task != "seqrec":
    raise KeyError(f"unknown TIGER task {task!r}")
  mod = sources.pick_modality(view, MODALITY)
  return sources.seqrec_examples(view, cfg, task, split, mod, lambda i: view.sid(mod, i))
