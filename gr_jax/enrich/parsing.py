"""Robust parsing and validation of model answers: MDIM JSON interest tags and CMSA captions."""

from __future__ import annotations

import ast
import json
import re

MIN_TAGS, MAX_TAGS = 2, 4
MAX_TAG_WORDS, MAX_TAG_CHARS = 6, 60
MAX_CAPTION_WORDS = 60

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.S)
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_SMART = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_TAG_KEYS = ("interests", "interest_tags", "deep_interests", "tags", "interest")
_PLACEHOLDERS = {"tag", "<tag>", "...", "tag one", "tag two", "n/a", "none", "null"}


class MalformedAnswer(ValueError):
  """A model answer that cannot be parsed or fails validation (retried, then recorded)."""


def _balanced_spans(text: str, open_ch: str, close_ch: str) -> list[str]:
  """Every top-level balanced open..close substring, skipping brackets inside quotes."""
  spans, depth, start, quote, escaped = [], 0, -1, None, False
  for i, ch in enumerate(text):
    if quote:
      if escaped:
        escaped = False
      elif ch == "\\":
        escaped = True
      elif ch == quote:
        quote = None
      continue
    if ch == '"' or (ch == "'" and depth > 0 and _is_quote_open(text, i)):
      quote = ch
    elif ch == open_ch:
      if depth == 0:
        start = i
      depth += 1
    elif ch == close_ch and depth > 0:
      depth -= 1
      if depth == 0:
        spans.append(text[start:i + 1])
  return spans


def _is_quote_open(text: str, i: int) -> bool:
  """A single quote opens a string only after a delimiter (not in "buyer's")."""
  j = i - 1
  while j >= 0 and text[j] in " \t\n":
    j -= 1
  return j < 0 or text[j] in "[{:,("


def _loads_lenient(blob: str):
  """json.loads, then fixes for smart quotes, trailing commas and Python-literal syntax."""
  blob = blob.translate(_SMART)
  for attempt in (blob, _TRAILING_COMMA.sub(r"\1", blob)):
    try:
      return json.loads(attempt)
    except ValueError:
      pass
  py = _TRAILING_COMMA.sub(r"\1", blob)
  py = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", py)))
  try:
    return ast.literal_eval(py)
  except (ValueError, SyntaxError, MemoryError, RecursionError):
    return None


def _tags_from(obj) -> list | None:
  if isinstance(obj, dict):
    lowered = {str(k).strip().lower().replace(" ", "_"): v for k, v in obj.items()}
    for key in _TAG_KEYS:
      if key in lowered:
        value = lowered[key]
        if isinstance(value, str):
          value = [v for v in re.split(r"[;,\n]", value)]
        return value if isinstance(value, list) else None
    return None
  if isinstance(obj, list):
    return obj
  return None


def normalize_tag(tag) -> str | None:
  """Lower-cased, trimmed tag; None if empty, a placeholder, too long or not words."""
  if not isinstance(tag, str):
    return None
  tag = tag.translate(_SMART)
  tag = re.sub(r"^\s*(?:[-*\u2022]|\d+[.)])\s*", "", tag)  # Bullets and numbering.
  tag = " ".join(tag.strip().strip("\"'`.,;:!").split()).lower()
  if not tag or tag in _PLACEHOLDERS or not re.search(r"[a-z]{3}", tag):
    return None
  if len(tag) > MAX_TAG_CHARS or len(tag.split()) > MAX_TAG_WORDS:
    return None
  return tag


def validate_tags(tags: list, forbidden: tuple[str, ...] = ()) -> list[str]:
  """Normalises, de-duplicates and caps tags at 4; raises MalformedAnswer if fewer than 2 remain."""
  out, seen = [], {f.strip().lower() for f in forbidden if f}
  for tag in tags:
    tag = normalize_tag(tag)
    if tag is None or tag in seen:
      continue
    seen.add(tag)
    out.append(tag)
  if len(out) < MIN_TAGS:
    raise MalformedAnswer(f"{len(out)} valid interest tag(s); need {MIN_TAGS}-{MAX_TAGS}")
  return out[:MAX_TAGS]


def parse_interests(text: str, forbidden: tuple[str, ...] = ()) -> list[str]:
  """Extracts 2-4 interest tags from an MDIM answer.

  Accepts the JSON object anywhere in the text (after chain-of-thought, inside
  code fences, followed by trailing text), single-quoted or Python-style
  literals, trailing commas, a bare JSON list, and `interests`/`tags` keys in
  any case. The last object carrying tags wins. Raises MalformedAnswer.
  """
  if not isinstance(text, str) or not text.strip():
    raise MalformedAnswer("empty answer")
  text = _THINK.sub(" ", text)
  regions = _FENCE.findall(text)[::-1] + [text]
  last_error = "no JSON object or list with interest tags"
  for region in regions:
    candidates = _balanced_spans(region, "{", "}")[::-1] + _balanced_spans(region, "[", "]")[::-1]
    for blob in candidates:
      tags = _tags_from(_loads_lenient(blob))
      if tags is None:
        continue
      try:
        return validate_tags(tags, forbidden)
      except MalformedAnswer as e:
        last_error = str(e)
  raise MalformedAnswer(last_error)


def clean_caption(text: str) -> str:
  """One-paragraph caption from a CMSA answer (labels, quotes, fences stripped); MalformedAnswer if empty."""
  if not isinstance(text, str):
    raise MalformedAnswer("caption is not a string")
  text = _THINK.sub(" ", text)
  fenced = _FENCE.findall(text)
  if fenced:
    text = fenced[0]
  paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
  text = paragraphs[0] if paragraphs else ""
  text = re.sub(r"^\s*(?:caption|description|answer)\s*:\s*", "", text, flags=re.I)
  text = " ".join(text.split()).strip("\"'` ")
  words = text.split()
  if len(words) > MAX_CAPTION_WORDS:
    text = " ".join(words[:MAX_CAPTION_WORDS])
    cut = max(text.rfind(". "), text.rfind("; "))
    text = text[:cut + 1] if cut > len(text) // 2 else text
  if len(re.findall(r"[A-Za-z]{2,}", text)) < 2:
    raise MalformedAnswer(f"caption too short or empty: {text[:80]!r}")
  return text
