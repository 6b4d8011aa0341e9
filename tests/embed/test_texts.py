"""Tests for the plain and enriched item texts and the guarded enrichment import."""

from gr_jax.data import schema
from gr_jax.embed import texts


def _item(**kw):
  return schema.Item(item_id="i", title=kw.pop("title", "Blue  Kettle"), **kw)


def test_plain_and_fallback_text():
  assert texts.plain_text(_item(description=" Boils fast ")) == "Blue Kettle. Boils fast."
  assert texts.plain_text(_item(title="Done!", description="")) == "Done!"
  empty = _item(title="", brand="Acme", categories=["Kitchen", "", "Kettles"])
  assert texts.plain_text(empty) == ""
  assert texts.fallback_text(empty) == "Acme. Kitchen, Kettles."


def test_enriched_text_order():
  item = _item(description="Boils fast.")
  out = texts.enriched_text(item, "a glossy blue kettle", ["tea lover", " ", "cosy mornings"])
  assert out == ("Blue Kettle. a glossy blue kettle. Interests: tea lover, cosy mornings. "
                 "Boils fast.")
  assert texts.enriched_text(item) == texts.plain_text(item)


def test_no_enrich_files_is_empty(tmp_path):
  caps, tags, info = texts.load_enrichment(str(tmp_path))
  assert caps == {} and tags == {} and info == {"captions": "0 items", "interests": "0 items"}


def test_loaders_filtered_and_switchable(monkeypatch):
  monkeypatch.setattr(texts.enrich, "load_captions", lambda d: {"a": "red", "b": "  "})
  monkeypatch.setattr(texts.enrich, "load_interests", lambda d: {"a": ["x", 3, ""], "b": []})
  caps, tags, info = texts.load_enrichment("/d")
  assert caps == {"a": "red"} and tags == {"a": ["x"]}
  assert info == {"captions": "1 items", "interests": "1 items"}
  caps, tags, info = texts.load_enrichment("/d", captions=False, interests=False)
  assert caps == {} and tags == {} and info == {"captions": "off", "interests": "off"}
