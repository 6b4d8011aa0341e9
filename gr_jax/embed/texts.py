"""Item text built for embedding: plain (title + description) and enriched (+ caption, interests)."""

from __future__ import annotations

from gr_jax import enrich
from gr_jax.data import schema


def _clean(s: str) -> str:
  return " ".join((s or "").split())


def _join(parts: list[str]) -> str:
  out = []
  for p in parts:
    p = _clean(p)
    if p:
      out.append(p if p[-1] in ".!?" else p + ".")
  return " ".join(out)


def plain_text(item: schema.Item) -> str:
  """'Title. Description.' (empty string when both are empty)."""
  return _join([item.title, item.description])


def fallback_text(item: schema.Item) -> str:
  """Brand and categories, used when title and description are both empty."""
  return _join([item.brand, ", ".join(c for c in item.categories if c)])


def enriched_text(item: schema.Item, caption: str = "", interests: list[str] | None = None) -> str:
  """'Title. Caption. Interests: a, b. Description.' for the fused (TriAlignGR) embedding.

  The paper's gme-Qwen2-VL input is title, description, CMSA caption and MDIM
  interests. The description goes last here so that truncation to the text
  encoder's token limit drops description words before caption or interests.
  """
  tags = ", ".join(_clean(t) for t in (interests or []) if _clean(t))
  return _join([item.title, caption, f"Interests: {tags}" if tags else "", item.description])


def load_enrichment(data_dir: str, captions: bool = True, interests: bool = True
                    ) -> tuple[dict[str, str], dict[str, list[str]], dict]:
  """Returns (captions, interests, info) via gr_jax.enrich; missing enrichment -> empty dicts."""
  info = {"captions": "off", "interests": "off"}
  caps: dict[str, str] = {}
  tags: dict[str, list[str]] = {}
  if captions:
    raw = enrich.load_captions(data_dir)
    caps = {k: v for k, v in raw.items() if isinstance(v, str) and v.strip()}
    info["captions"] = f"{len(caps)} items"
  if interests:
    raw = enrich.load_interests(data_dir)
    tags = {k: [t for t in v if isinstance(t, str) and t.strip()]
            for k, v in raw.items() if isinstance(v, list)}
    tags = {k: v for k, v in tags.items() if v}
    info["interests"] = f"{len(tags)} items"
  return caps, tags, info
