"""Offline `heuristic` backend: captions from image statistics, interest tags from key phrases.

No model is involved, and every record says so (backend "heuristic"). Captions
name the dominant colours (nearest of a named-colour palette), the pattern /
texture (stripes, dots, checks, plain, textured: from colour transitions), the
shape (from the foreground mask), tone, plus material/style words found in the
title and optional object words (e.g. EfficientNet's top ImageNet classes). The
title itself is not copied into the caption (the `visdesc2title` task predicts
the title from the caption). Interest tags come from trigger-word rules over
title, description, categories and caption, visual-style tags from the caption,
and category / key-phrase tags as a fallback.
"""

from __future__ import annotations

import collections

from gr_jax.enrich import images
from gr_jax.enrich import lexicon
from gr_jax.enrich import parsing
from gr_jax.enrich import pixels
from gr_jax.enrich.runner import Outcome

CAPTION_VERSION = "heuristic-caption-v1"
INTEREST_VERSION = "heuristic-interest-v1"

_PATTERN_WORDS = {"plain": "plain", "vertical stripes": "vertically striped",
                  "horizontal stripes": "horizontally striped",
                  "diagonal stripes": "diagonally striped", "wavy stripes": "wavy-striped",
                  "grid": "grid-patterned", "polka dots": "polka-dot", "checks": "checked",
                  "textured": "textured"}


def _article(word: str) -> str:
  return "an" if word[:1] in "aeiou" else "a"


def _colour_phrase(stats: pixels.ImageStats) -> str:
  if not stats.colour_shares or stats.colour_shares[0] < 0.2:
    return "multicoloured"
  names = stats.colours
  return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def describe(stats: pixels.ImageStats, materials: list[str], styles: list[str],
             object_words: list[str]) -> str:
  """One caption sentence from image statistics and text cues."""
  noun = object_words[0] if object_words else "item"
  shape = "" if stats.shape in ("irregular", "full-frame") else stats.shape
  if stats.orientation != "compact" and shape not in ("oval", "rectangular"):
    shape = f"{stats.orientation} {shape}".strip()
  pattern = _PATTERN_WORDS[stats.pattern]
  colours = _colour_phrase(stats)
  # "plain red" reads better than "red plain"; other patterns follow the colours.
  colour_pattern = [pattern, colours] if stats.pattern == "plain" else [colours, pattern]
  words = [stats.size if stats.size != "medium" else "", *colour_pattern, shape,
           " and ".join(materials[:2]), noun]
  head = " ".join(w for w in words if w)
  text = f"{_article(head).capitalize()} {head}"
  if stats.background:
    text += f" on {_article(stats.background)} {stats.background} background"
  else:
    text += " filling the frame"
  tone = [f"{stats.saturation} colours" if stats.saturation != "moderate" else "",
          f"{stats.brightness} tone" if stats.brightness != "medium" else "",
          f"{stats.contrast} contrast" if stats.contrast != "medium" else ""]
  tone = [t for t in tone if t]
  if tone:
    text += ", " + ", ".join(tone)
  text += "."
  if styles:
    text += f" Style: {', '.join(styles[:3])}."
  if len(object_words) > 1:
    text += f" Looks like: {', '.join(object_words[:3])}."
  return text


class HeuristicCaptioner:
  """CMSA stand-in from pixels (+ title cues); items without a usable image get text cues only."""

  field = "caption"
  backend, model, prompt_version = "heuristic", "pixel-statistics", CAPTION_VERSION

  def __init__(self, max_side: int = 96, no_image: str = "text"):
    self.max_side, self.no_image = max_side, no_image

  def hash_inputs(self, job) -> dict:
    return {"title": job.title, "description": job.description, "image": job.image.hash_input(),
            "object_words": job.object_source or list(job.object_words), "no_image": self.no_image,
            "max_side": self.max_side}

  def __call__(self, job) -> Outcome:
    materials = lexicon.found(job.title, lexicon.MATERIALS)
    styles = lexicon.found(job.title, lexicon.STYLES)
    status = job.image.status
    if status == images.OK:
      try:
        rgb = images.load_rgb(job.image.path, self.max_side)
      except (OSError, ValueError, SyntaxError):
        status = images.UNREADABLE
      else:
        stats = pixels.analyse(rgb)
        return Outcome(value=describe(stats, materials, styles, job.object_words),
                       extra={"image": status})
    if self.no_image == "skip":
      return Outcome(error=f"no_image: {status}", permanent=True, extra={"image": status})
    text = f"{job.title} {job.description}"
    grams = lexicon.index(lexicon.words(text))
    colours = [c for c in pixels.PALETTE_NAMES if lexicon.has(grams, c)]
    colours = [c for c in colours if not any(c != o and c in o for o in colours)]
    materials = lexicon.found(text, lexicon.MATERIALS)
    styles = lexicon.found(text, lexicon.STYLES)
    cues = colours[:2] + materials[:2] + styles[:2] + list(job.object_words[:2])
    if not cues:
      return Outcome(error=f"no_image: {status}; no visual cues in the text", permanent=True,
                     extra={"image": status})
    return Outcome(value=f"No image available; the text suggests: {', '.join(cues)}.",
                   extra={"image": status})


def _style_tags(caption: str) -> list[str]:
  """Visual-taste tags from a caption's colour and pattern words."""
  ws = lexicon.words(caption)
  grams = lexicon.index(ws)
  tags = []
  for pattern, tag in (("wavy", "flowing wavy look"), ("striped", "classic striped look"),
                       ("polka", "playful polka-dot look"), ("grid", "graphic grid look"),
                       ("checked", "checked pattern look"), ("textured", "rich textured look")):
    if pattern in ws and not tags:
      tags.append(tag)
  colours = [c for c in pixels.PALETTE_NAMES if lexicon.has(grams, c)]
  vivid = [c for c in colours if c not in pixels.NEUTRALS]
  if vivid:
    tags.append(f"{vivid[0]} colour taste")
  elif colours:
    tags.append("neutral minimalist taste")
  return tags


class HeuristicInterestMiner:
  """MDIM stand-in: key-phrase rules, caption style and category tags (2-4, validated)."""

  field = "interests"
  backend, model, prompt_version = "heuristic", "keyphrase-rules", INTEREST_VERSION

  def hash_inputs(self, job) -> dict:
    return {"title": job.title, "description": job.description, "caption": job.caption,
            "categories": list(job.categories), "brand": job.brand}

  def tags(self, job) -> list[str]:
    """Candidate tags, best first (before validation)."""
    fields = ((job.title, 3.0), (" ".join(job.categories), 2.0), (job.description, 1.0),
              (job.caption, 0.5))
    scores = collections.Counter()
    for text, weight in fields:
      grams = lexicon.index(lexicon.words(text))
      for triggers, tag in lexicon.INTEREST_RULES:
        if any(lexicon.has(grams, t) for t in triggers):
          scores[tag] += weight
    ranked = [t for t, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]
    out = ranked[:2] + _style_tags(job.caption)[:1] + ranked[2:3]
    for cat in reversed(job.categories):  # Most specific category first.
      words = [w for w in lexicon.words(cat) if w not in lexicon.STOPWORDS]
      if words:
        out.append(" ".join(words[:3]) + " shopping")
        break
    key = [w for w in lexicon.words(job.title)
           if w not in lexicon.STOPWORDS and len(w) > 2 and w.lower() != job.brand.lower()]
    if key:
      out.append(" ".join(key[:2]) + " enthusiast")
    out += ranked[3:]
    return out

  def __call__(self, job) -> Outcome:
    try:
      return Outcome(value=parsing.validate_tags(self.tags(job), forbidden=(job.title,)))
    except parsing.MalformedAnswer as e:
      return Outcome(error=f"malformed: {e}", permanent=True)
