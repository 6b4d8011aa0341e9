"""Tests for gr_jax.enrich.backends.heuristic: offline captions and interest tags."""

from PIL import Image

from gr_jax.enrich import captioner
from gr_jax.enrich import images
from gr_jax.enrich import interest_miner
from gr_jax.enrich import parsing
from gr_jax.enrich.backends import heuristic
from gr_jax.data import schema


def _job(tmp_path, draw_image, shape, colour, pattern, title="Ceramic coffee mug", words=()):
  path = tmp_path / f"{shape}_{colour}_{pattern.replace(' ', '_')}.png"
  Image.fromarray(draw_image(shape, colour, pattern, size=120)).save(path)
  return captioner.CaptionJob("x", title, "", images.resolve(str(tmp_path), path.name),
                              list(words))


def test_caption_names_colour_pattern_shape_and_title_cues(tmp_path, draw_image):
  cap = heuristic.HeuristicCaptioner()
  out = cap(_job(tmp_path, draw_image, "round", "blue", "plain",
                 title="Vintage ceramic coffee mug"))
  assert out.ok and out.extra == {"image": "ok"}
  assert "blue" in out.value and "round" in out.value and "ceramic" in out.value
  assert "vintage" in out.value and "white background" in out.value
  assert "coffee mug" not in out.value.lower()  # The title is not copied (visdesc2title).
  out = cap(_job(tmp_path, draw_image, "square", "green", "vertical stripes"))
  assert "vertically striped" in out.value and "green" in out.value and "white" in out.value
  out = cap(_job(tmp_path, draw_image, "round", "yellow", "polka dots"))
  assert "polka-dot" in out.value


def test_caption_uses_object_words_and_is_deterministic(tmp_path, draw_image):
  cap = heuristic.HeuristicCaptioner()
  job = _job(tmp_path, draw_image, "square", "red", "plain", words=["coffee mug", "cup", "pitcher"])
  a, b = cap(job), cap(job)
  assert a.value == b.value
  assert "plain red square ceramic coffee mug on a white background" in a.value
  assert "Looks like: coffee mug, cup, pitcher." in a.value
  assert cap.hash_inputs(job)["object_words"] == ["coffee mug", "cup", "pitcher"]


def test_captions_differ_between_images(tmp_path, draw_image):
  cap = heuristic.HeuristicCaptioner()
  outs = {cap(_job(tmp_path, draw_image, s, c, p)).value
          for s, c, p in [("square", "red", "plain"), ("round", "red", "plain"),
                          ("square", "blue", "plain"), ("square", "red", "checks")]}
  assert len(outs) == 4


def test_text_only_and_skip_paths(tmp_path):
  job = captioner.CaptionJob("x", "Red leather wallet", "", images.resolve(str(tmp_path), None))
  out = heuristic.HeuristicCaptioner()(job)
  assert out.ok and out.extra["image"] == "no_image"
  assert out.value == "No image available; the text suggests: red, leather."
  missing = captioner.CaptionJob("y", "Thing", "", images.resolve(str(tmp_path), "images/no.png"))
  out = heuristic.HeuristicCaptioner()(missing)
  assert not out.ok and out.permanent and out.extra["image"] == "missing_file"
  out = heuristic.HeuristicCaptioner(no_image="skip")(job)
  assert not out.ok and out.permanent and out.error.startswith("no_image")


def test_unreadable_image_falls_back_to_text(tmp_path):
  (tmp_path / "bad.png").write_bytes(b"not a png")
  job = captioner.CaptionJob("x", "Blue cotton scarf", "", images.resolve(str(tmp_path), "bad.png"))
  out = heuristic.HeuristicCaptioner()(job)
  assert out.ok and out.extra["image"] == "unreadable" and "blue" in out.value


def test_interest_tags_from_key_phrases_caption_and_categories():
  miner = heuristic.HeuristicInterestMiner()
  items = [schema.Item("a", "Wireless gaming controller for Xbox", "Rechargeable.", "Acme",
                       ["Video Games", "Accessories"]),
           schema.Item("b", "Kids digital microscope", "1000x zoom for young scientists.", "",
                       ["Industrial & Scientific", "Lab Instruments"]),
           schema.Item("c", "Fire Emblem: The Sacred Stones", "", "", [])]
  captions = {"a": "A black and red plastic item on a white background.",
              "b": "A blue vertically striped square item on a white background."}
  jobs = interest_miner.interest_jobs(items, captions)
  tags = {j.item_id: miner(j).value for j in jobs}
  assert tags["a"][0] == "video gaming hobby" and "red colour taste" in tags["a"]
  assert "laboratory science work" in tags["b"] and "classic striped look" in tags["b"]
  assert "family time with kids" in tags["b"]
  assert "story-driven fantasy adventures" in tags["c"]
  for t in tags.values():
    assert 2 <= len(t) <= 4 and len(set(t)) == len(t)
    assert parsing.validate_tags(t) == t  # Already normalised.


def test_interests_fail_permanently_without_text():
  job = interest_miner.InterestJob("x", "", "", "")
  out = heuristic.HeuristicInterestMiner()(job)
  assert not out.ok and out.permanent


def test_every_pattern_and_shape_has_caption_words():
  from gr_jax.enrich import pixels  # pylint: disable=g-import-not-at-top
  assert set(heuristic._PATTERN_WORDS) == set(pixels.PATTERNS)  # pylint: disable=protected-access
  for pattern in pixels.PATTERNS:
    for shape in pixels.SHAPES:
      stats = pixels.ImageStats(["red"], [1.0], "white", pattern, shape, "compact", "medium",
                                "medium", "vivid", "medium")
      text = heuristic.describe(stats, [], [], [])
      assert heuristic._PATTERN_WORDS[pattern] in text  # pylint: disable=protected-access
      assert text.startswith(("A ", "An ")) and text.endswith(".")
