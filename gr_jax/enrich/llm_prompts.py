"""CMSA caption and MDIM interest prompts (OpenAI chat-message format), versioned for the cache.

The TriAlignGR paper (arXiv 2605.05249) names the models (Qwen2.5-VL for CMSA,
Qwen2.5-7B-Instruct for MDIM) and the intent -- one concise, semantically rich
image description; 2-4 "deep interest" tags such as "productivity-focused
lifestyle" mined with chain-of-thought from title + description + caption -- but
not the prompt text. These prompts are ours. Changing any text here must bump
the matching *_VERSION so cached answers are not reused for a different prompt.
"""

from __future__ import annotations

import json

CAPTION_VERSION = "cmsa-v1"
INTEREST_VERSION = "mdim-v1"
INTEREST_FEW_SHOT_VERSION = "mdim-v1-fewshot"

MAX_TEXT_CHARS = 1500  # Descriptions are truncated to keep prompts short.

CAPTION_SYSTEM = ("You write product descriptions for an online catalogue from product photos. "
                  "You describe only what is visible.")

CAPTION_INSTRUCTION = (
    "Product title: {title}\n\n"
    "Describe the product in this image in ONE concise sentence (at most 40 words) that names "
    "its colours, material, shape, pattern or style, and its likely use. Do not repeat the title "
    "verbatim and do not invent brands, prices or text that is not visible. "
    "Answer with the sentence only.")

CAPTION_TEXT_ONLY_INSTRUCTION = (
    "Product title: {title}\nProduct description: {description}\n\n"
    "No photo is available. In ONE concise sentence (at most 40 words), describe how this product "
    "most likely looks: colours, material, shape, style and use, using only cues in the text. "
    "Do not repeat the title verbatim. Answer with the sentence only.")

INTEREST_SYSTEM = ("You analyse products to infer the deeper interests, lifestyles and intents of the "
                   "people who buy them, beyond the product's surface attributes.")

INTEREST_INSTRUCTION = (
    "Title: {title}\nDescription: {description}\nVisual description: {caption}\n\n"
    "Think step by step: what is this product, who uses it, and which need, lifestyle, hobby or "
    "value does it serve? Then give 2 to 4 short interest tags (2-5 words each) describing the "
    "buyer's deeper interests, e.g. \"productivity-focused lifestyle\" for noise-cancelling "
    "headphones.\n"
    "Answer with ONE JSON object and nothing else, exactly in this form:\n"
    "{{\"reasoning\": \"<one or two sentences>\", \"interests\": [\"<tag>\", \"<tag>\"]}}")

# Few-shot mode for small local models (SmolLM2-135M): a compact prompt, four
# worked examples whose answers show the format, and a one-sentence reasoning.
FEW_SHOT_SYSTEM = ("You name the deeper interests and lifestyles of the people who buy a product, "
                   "in 2 to 4 short tags. Think first in one sentence, then answer in JSON.")
FEW_SHOT = (
    ("Wireless Noise Cancelling Over-Ear Headphones. 40-hour battery, built-in microphone.",
     {"reasoning": "Noise cancelling helps people focus at work and on commutes.",
      "interests": ["productivity-focused lifestyle", "daily commuting", "music listening"]}),
    ("Stainless Steel Insulated Water Bottle 32oz. Keeps drinks cold for 24 hours. "
     "Looks: a tall teal metal bottle.",
     {"reasoning": "A big insulated bottle goes to the gym and on hikes.",
      "interests": ["active outdoor lifestyle", "healthy hydration habits"]}),
    ("Organic Lavender Face Serum. Vitamin C, for dry skin.",
     {"reasoning": "Skincare serums are part of a daily self-care ritual.",
      "interests": ["natural self-care routine", "clean beauty"]}),
    ("LEGO Classic Creative Bricks Box, 500 pieces. Looks: a box of colourful plastic bricks.",
     {"reasoning": "Building bricks are played with by children and parents together.",
      "interests": ["creative play with kids", "family hobby time"]}),
)

INTEREST_JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string", "maxLength": 200},
        "interests": {"type": "array", "items": {"type": "string", "maxLength": 48},
                      "minItems": 2, "maxItems": 4},
    },
    "required": ["reasoning", "interests"],
}


def _short(text: str, limit: int = MAX_TEXT_CHARS) -> str:
  text = " ".join((text or "").split())
  return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def caption_messages(title: str, image_url: str | None, description: str = "") -> list[dict]:
  """CMSA request: image (data URL or http URL) + title; text-only when `image_url` is None."""
  if image_url is None:
    text = CAPTION_TEXT_ONLY_INSTRUCTION.format(title=_short(title, 300),
                                                description=_short(description) or "(none)")
    return [{"role": "system", "content": CAPTION_SYSTEM}, {"role": "user", "content": text}]
  content = [{"type": "image_url", "image_url": {"url": image_url}},
             {"type": "text", "text": CAPTION_INSTRUCTION.format(title=_short(title, 300))}]
  return [{"role": "system", "content": CAPTION_SYSTEM}, {"role": "user", "content": content}]


def _interest_user(title: str, description: str, caption: str) -> str:
  return INTEREST_INSTRUCTION.format(title=_short(title, 300),
                                     description=_short(description) or "(none)",
                                     caption=_short(caption, 600) or "(none)")


def _few_shot_user(title: str, description: str, caption: str) -> str:
  parts = [_short(title, 200), _short(description, 300), _short(caption, 200)]
  text = ". ".join(p.rstrip(". ") for p in parts[:2] if p)
  if parts[2]:
    text += ". Looks: " + parts[2].rstrip(". ")
  return f"Product: {text}."


def interest_messages(title: str, description: str, caption: str,
                      few_shot: bool = False) -> list[dict]:
  """MDIM request: chain-of-thought then a strict JSON answer.

  `few_shot=False`: the full instruction for capable models (Qwen2.5-7B-Instruct).
  `few_shot=True`: the compact worked-example prompt for small local models.
  """
  if not few_shot:
    return [{"role": "system", "content": INTEREST_SYSTEM},
            {"role": "user", "content": _interest_user(title, description, caption)}]
  messages = [{"role": "system", "content": FEW_SHOT_SYSTEM}]
  for text, answer in FEW_SHOT:
    messages.append({"role": "user", "content": f"Product: {text}"})
    messages.append({"role": "assistant", "content": json.dumps(answer)})
  messages.append({"role": "user", "content": _few_shot_user(title, description, caption)})
  return messages


def few_shot_answers() -> list[set[str]]:
  """The tag sets of the worked examples (an answer that copies one is rejected)."""
  return [set(answer["interests"]) for _, answer in FEW_SHOT]


def interest_version(few_shot: bool) -> str:
  """The prompt version recorded with MDIM answers."""
  return INTEREST_FEW_SHOT_VERSION if few_shot else INTEREST_VERSION
