"""Tests for gr_jax.enrich.parsing: robust MDIM JSON parsing and caption cleaning."""

import pytest

from gr_jax.enrich import parsing

GOOD = ["productivity-focused lifestyle", "daily commuting"]


@pytest.mark.parametrize("text", [
    '{"reasoning": "x", "interests": ["productivity-focused lifestyle", "daily commuting"]}',
    'Let me think. They work a lot.\n{"interests": ["Productivity-focused lifestyle", '
    '"daily commuting"]}\nHope this helps!',
    '```json\n{"reasoning": "r", "interests": ["productivity-focused lifestyle", '
    '"daily commuting"]}\n```\nExplanation: ...',
    "{'reasoning': 'the buyer\\'s day', 'interests': ['productivity-focused lifestyle', "
    "'daily commuting']}",
    '{"interests": ["productivity-focused lifestyle", "daily commuting",],}',
    '<think>{"interests": ["wrong", "tags"]} hmm</think>{"Interests": ["productivity-focused '
    'lifestyle", "daily commuting"]}',
    '["productivity-focused lifestyle", "daily commuting"]',
    '{"tags": "productivity-focused lifestyle, daily commuting"}',
    '\u201cinterests\u201d thing: {\u201cinterests\u201d: [\u201cproductivity-focused lifestyle'
    '\u201d, \u201cdaily commuting\u201d]}',
    '{"reasoning": "A {weird} [text]", "interests": ["1. productivity-focused lifestyle", '
    '"- daily commuting"], "done": true, "x": null}',
])
def test_parse_interests_accepts_messy_answers(text):
  assert parsing.parse_interests(text) == GOOD


def test_parse_interests_dedupes_caps_and_drops_bad_tags():
  text = ('{"interests": ["A", "a", "Music listening", "music listening", "tag", "<tag>", "", '
          '"this tag is much much too long to be a short interest tag", "home cooking", '
          '"travel", "gardening", "reading"]}')
  assert parsing.parse_interests(text) == ["music listening", "home cooking", "travel", "gardening"]


def test_parse_interests_prefers_last_object_and_forbids_title():
  text = ('Example: {"interests": ["old one", "old two"]} Final: '
          '{"interests": ["Echo Dot", "smart home control", "voice assistant"]}')
  assert parsing.parse_interests(text, forbidden=("echo dot",)) == [
      "smart home control", "voice assistant"]


@pytest.mark.parametrize("text", [
    "", "They like music and travel.", '{"interests": ["only one"]}', '{"reasoning": "no tags"}',
    '{"interests": ["same", "Same", "SAME"]}', '{"interests": [1, 2, 3]}', "{not json at all",
])
def test_parse_interests_rejects_malformed(text):
  with pytest.raises(parsing.MalformedAnswer):
    parsing.parse_interests(text)


def test_clean_caption():
  assert parsing.clean_caption('Caption: "A red ceramic mug with a white handle."\n\nExtra') == (
      "A red ceramic mug with a white handle.")
  assert parsing.clean_caption("```\nA blue bottle, steel.\n```") == "A blue bottle, steel."
  long = "A red mug. " + "word " * 100
  assert len(parsing.clean_caption(long).split()) <= parsing.MAX_CAPTION_WORDS
  for bad in ("", "  ", "ok", "```\n\n```", None):
    with pytest.raises(parsing.MalformedAnswer):
      parsing.clean_caption(bad)
