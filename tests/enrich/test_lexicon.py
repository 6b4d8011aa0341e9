"""Tests for gr_jax.enrich.lexicon: word/phrase matching used by the heuristic backend."""

from gr_jax.enrich import lexicon


def test_found_matches_whole_words_plurals_hyphens_and_prefers_longer_phrases():
  text = "Stainless-steel MUGS with glass lids; heavy duty, not steelworks"
  assert lexicon.found(text, lexicon.MATERIALS) == ["glass", "stainless steel"]
  assert lexicon.found(text, lexicon.STYLES) == ["heavy-duty"]
  assert lexicon.found("a woolen scarf", lexicon.MATERIALS) == []  # "wool" is not "woolen"


def test_index_and_has():
  grams = lexicon.index(lexicon.words("Two test tubes and boxes of shoes"))
  assert lexicon.has(grams, "test tube") and lexicon.has(grams, "box")
  assert lexicon.has(grams, "shoe") and not lexicon.has(grams, "tube test")
  assert lexicon.contains(lexicon.words("red lamps"), "lamp")
  assert not lexicon.contains(lexicon.words("clamp"), "lamp")
