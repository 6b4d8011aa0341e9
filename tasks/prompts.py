"""Task prompts: the single place that turns task fields into model input text."""

from __future__ import annotations

import hashlib
import re
from typing import Mapping, Sequence

HISTORY_SEPARATOR = ", "
MAX_DESCRIPTION_CHARS = 400

# Variant 0 of every task is the canonical phrasing used for validation, test,
# `gr-jax evaluate` and `gr-jax recommend`; training samples among all of them.
TEMPLATES: dict[str, tuple[str, ...]] = {
    # SID history -> next SID (TriAlignGR, TIGER).
    "seqrec": (
        "Predict the next item from the history: {history}",
        "The user bought these items in order: {history}. Which item comes next?",
        "Given the purchase history {history}, recommend the next item.",
        "History: {history}. Next item:",
    ),
    "seqrec_title": (
        "Predict the title of the next item from the history: {history}",
        "The user bought these items in order: {history}. What is the title of the next item?",
        "Given the purchase history {history}, name the next item.",
    ),
    "title2sid": (
        "Which item has the title: {title}",
        "Give the item ID of the product titled: {title}",
        "Find the item: {title}",
    ),
    "sid2title": (
        "What is the title of item {sid}?",
        "Give the product title of item {sid}.",
        "Item {sid} is called:",
    ),
    "content2sid": (
        "Which item matches this content: {content}",
        "Find the item described as follows. {content}",
        "Give the item ID for the product with {content}",
    ),
    "sid2interest": (
        "What user interests does item {sid} serve?",
        "List the deep interests behind buying item {sid}.",
        "Item {sid} appeals to which interests?",
    ),
    "visdesc2sid": (
        "Which item looks like this: {caption}",
        "Find the item whose image shows: {caption}",
        "The product picture shows {caption} Give its item ID.",
    ),
    "visdesc2title": (
        "What is the title of the item that looks like this: {caption}",
        "Name the product whose image shows: {caption}",
        "The product picture shows {caption} What is it called?",
    ),
    # MACRec: text SIDs and image SIDs.
    "seqrec_text": (
        "Predict the next item's text ID from the text ID history: {history}",
        "Text ID history: {history}. Next text ID:",
        "The user bought items with text IDs {history}. Recommend the next one.",
    ),
    "seqrec_image": (
        "Predict the next item's image ID from the image ID history: {history}",
        "Image ID history: {history}. Next image ID:",
        "The user bought items with image IDs {history}. Recommend the next one.",
    ),
    "text2image": (
        "What is the image ID of the item with text ID {sid}?",
        "Translate text ID {sid} to its image ID.",
        "Item text ID {sid}; image ID:",
    ),
    "image2text": (
        "What is the text ID of the item with image ID {sid}?",
        "Translate image ID {sid} to its text ID.",
        "Item image ID {sid}; text ID:",
    ),
    "text_hist2image": (
        "Predict the next item's image ID from the text ID history: {history}",
        "Text ID history: {history}. Next image ID:",
        "The user bought items with text IDs {history}. Give the image ID of the next one.",
    ),
    "image_hist2text": (
        "Predict the next item's text ID from the image ID history: {history}",
        "Image ID history: {history}. Next text ID:",
        "The user bought items with image IDs {history}. Give the text ID of the next one.",
    ),
}


def num_variants(task: str) -> int:
  """Number of phrasings of a task."""
  return len(_templates(task))


def _templates(task: str) -> tuple[str, ...]:
  try:
    return TEMPLATES[task]
  except KeyError:
    raise KeyError(f"unknown task {task!r}; known: {sorted(TEMPLATES)}") from None


def _content(fields: Mapping) -> str:
  """MDIM interests first (so token trimming cuts the description, not the tags)."""
  parts = []
  interests = fields.get("interests") or []
  if interests:
    parts.append("interests: " + ", ".join(interests) + ".")
  description = (fields.get("description") or "").strip()
  if description:
    if len(description) > MAX_DESCRIPTION_CHARS:
      description = description[:MAX_DESCRIPTION_CHARS].rsplit(" ", 1)[0] + " ..."
    parts.append("description: " + description)
  return " ".join(parts)


# Compact history inputs (TIGER's form, `compact_history=True`): the history's SID tokens alone,
# oldest first, no prompt text and no separators (3-5 tokens per item instead of ~5-7 plus a
# ~10-token prompt). A task that reads the same history as its method's main seqrec task gets one
# marker word after the history, so the model can tell the two apart; the marker goes last so
# that trimming a long history from the left (gr_jax_tasks.trim) never cuts it.
COMPACT_MARKERS: dict[str, str] = {
    "seqrec": "", "seqrec_text": "", "seqrec_image": "",
    "seqrec_title": " title", "text_hist2image": " image", "image_hist2text": " text",
}


def takes_history(task: str) -> bool:
  """Whether `task`'s input is a user history (the tasks `compact_history` changes)."""
  return "{history}" in _templates(task)[0]


def format_compact_history(task: str, history_sids: Sequence[str]) -> str:
  """Compact input of a history task: SID tokens oldest first, then the task's marker."""
  if task not in COMPACT_MARKERS:
    raise KeyError(f"task {task!r} has no compact form; history tasks: {sorted(COMPACT_MARKERS)}")
  return "".join(history_sids) + COMPACT_MARKERS[task]


def format_history(history_sids: Sequence[str]) -> str:
  """Joins SID strings of a history, oldest first."""
  return HISTORY_SEPARATOR.join(history_sids)


def format_input(task: str, fields: Mapping, variant: int = 0) -> str:
  """Input text of `task` for `fields`, in phrasing `variant` (modulo the number of phrasings).

  Fields: `history_sids` (list of SID strings) for sequential tasks, `sid`,
  `title`, `description` + `interests` (list), `caption`, as the task needs.
  """
  templates = _templates(task)
  template = templates[variant % len(templates)]
  values = {}
  if "{history}" in template:
    values["history"] = format_history(fields["history_sids"])
  if "{sid}" in template:
    values["sid"] = fields["sid"]
  if "{title}" in template:
    values["title"] = fields["title"].strip()
  if "{caption}" in template:
    values["caption"] = fields["caption"].strip()
  if "{content}" in template:
    values["content"] = _content(fields)
  return template.format(**values)


def choose_variant(task: str, key: str, seed: int = 0) -> int:
  """A deterministic phrasing for one example (same key and seed -> same variant)."""
  digest = hashlib.blake2b(f"{seed}|{task}|{key}".encode(), digest_size=8).digest()
  return int.from_bytes(digest, "little") % num_variants(task)


def vocabulary_text() -> list[str]:
  """Prompt phrasings without placeholders, added to the SentencePiece training text."""
  out = []
  for templates in TEMPLATES.values():
    for template in templates:
      out.append(re.sub(r"\{\w+\}", "", template))
  out.extend(["interests: ", "description: "])
  return out
