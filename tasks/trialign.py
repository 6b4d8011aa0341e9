"""TriAlignGR: the eight SID-Text-Image triangle tasks (ARCHITECTURE.md)."""

from __future__ import annotations

from gr_jax_tasks import sources

TASKS = ("seqrec", "seqrec_title", "title2sid", "sid2title", "content2sid", "sid2interest",
         "visdesc2sid", "visdesc2title")
MODALITY = "fused"
# Tasks whose targets are SIDs of a history's next item -> the modality they decode.
SEQREC = {"seqrec": MODALITY}


def build(view: sources.DatasetView, cfg: sources.DatasetConfig, task: str, split: str) -> list[dict]:
  """Examples of one TriAlignGR task and split."""
  mod = sources.pick_modality(view, MODALITY)
  sid = lambda item_id: view.sid(mod, item_id)
  title = lambda item_id: view.items[item_id].title.strip() if item_id in view.items else None
  captions = (view.noisy_captions(cfg.caption_noise, cfg.seed) if split == "train"
              else view.captions)

  if task == "seqrec":
    return sources.seqrec_examples(view, cfg, task, split, mod, sid)
  if task == "seqrec_title":
    return sources.seqrec_examples(view, cfg, task, split, mod, title)

  def make(item):
    item_sid = sid(item.item_id)
    if not item_sid:
      return None
    caption = captions.get(item.item_id, "").strip()
    interests = view.interests.get(item.item_id, [])
    if task == "title2sid":
      return ({"title": item.title}, item_sid) if item.title.strip() else None
    if task == "sid2title":
      return {"sid": item_sid}, item.title.strip()
    if task == "content2sid":
      if not (item.description.strip() or interests):
        return None
      return {"description": item.description, "interests": interests}, item_sid
    if task == "sid2interest":
      return ({"sid": item_sid}, ", ".join(interests)) if interests else None
    if task == "visdesc2sid":
      return ({"caption": caption}, item_sid) if caption else None
    if task == "visdesc2title":
      return ({"caption": caption}, item.title.strip()) if caption else None
    raise KeyError(f"unknown TriAlignGR task {task!r}")

  return sources.item_examples(view, cfg, task, split, make)
