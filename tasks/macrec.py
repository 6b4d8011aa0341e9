"""MACRec: text-/image-SID sequential rec plus item- and sequence-level cross-modal tasks."""

from __future__ import annotations

from gr_jax_tasks import sources

TASKS = ("seqrec_text", "seqrec_image", "text2image", "image2text", "text_hist2image",
         "image_hist2text")
# task -> (history/input modality, target modality)
MODALITIES = {
    "seqrec_text": ("text", "text"),
    "seqrec_image": ("image", "image"),
    "text2image": ("text", "image"),
    "image2text": ("image", "text"),
    "text_hist2image": ("text", "image"),
    "image_hist2text": ("image", "text"),
}
SEQREC = {"seqrec_text": "text", "seqrec_image": "image"}
ITEM_LEVEL = ("text2image", "image2text")


def build(view: sources.DatasetView, cfg: sources.DatasetConfig, task: str, split: str) -> list[dict]:
  """Examples of one MACRec task and split."""
  if task not in MODALITIES:
    raise KeyError(f"unknown MACRec task {task!r}")
  src, dst = MODALITIES[task]
  for mod in (src, dst):
    if mod not in view.sids:
      raise KeyError(f"{view.data_dir}: MACRec needs '{mod}' SIDs; sids.json has {sorted(view.sids)}")
  if task in ITEM_LEVEL:
    def make(item):
      source_sid, target_sid = view.sid(src, item.item_id), view.sid(dst, item.item_id)
      return ({"sid": source_sid}, target_sid) if source_sid and target_sid else None
    return sources.item_examples(view, cfg, task, split, make)
  return sources.seqrec_examples(view, cfg, task, split, src, lambda i: view.sid(dst, i))
