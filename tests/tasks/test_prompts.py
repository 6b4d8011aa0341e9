"""Tests for gr_jax_tasks.prompts: phrasings, fields, deterministic variant choice."""

import pytest

from gr_jax_tasks import prompts

FIELDS = {"history_sids": ["<a_1><b_2><c_3>", "<a_4><b_5><c_6>"], "sid": "<a_9><b_8><c_7>",
          "title": " Digital scale ", "description": "Weighs things.", "interests": ["lab work", "cooking"],
          "caption": "A silver scale."}


@pytest.mark.parametrize("task", sorted(prompts.TEMPLATES))
def test_every_variant_renders_its_fields(task):
  rendered = [prompts.format_input(task, FIELDS, v) for v in range(prompts.num_variants(task))]
  assert len(set(rendered)) == len(rendered) >= 3  # Distinct phrasings.
  for text in rendered:
    assert "{" not in text and "}" not in text
    if "hist" in task or task.startswith("seqrec"):
      assert "<a_1><b_2><c_3>, <a_4><b_5><c_6>" in text
    elif task.startswith("sid2") or task in ("text2image", "image2text"):
      assert "<a_9><b_8><c_7>" in text
    elif task == "title2sid":
      assert "Digital scale" in text and " Digital scale " not in text
    elif task == "content2sid":
      assert "interests: lab work, cooking." in text and "Weighs things." in text
    elif task.startswith("visdesc"):
      assert "A silver scale." in text
  # Variants wrap around.
  assert prompts.format_input(task, FIELDS, prompts.num_variants(task)) == rendered[0]


def test_seqrec_canonical_input_for_the_evaluator():
  text = prompts.format_input("seqrec", {"history_sids": ["<a_1><b_2><c_3>"]})
  assert text == "Predict the next item from the history: <a_1><b_2><c_3>"


def test_content_puts_interests_first_and_truncates_description():
  long = "word " * 500
  text = prompts.format_input("content2sid", {"description": long, "interests": ["x"]})
  assert text.index("interests: x.") < text.index("description:")
  assert len(text) < prompts.MAX_DESCRIPTION_CHARS + 100 and text.endswith("...")
  assert "interests" not in prompts.format_input("content2sid", {"description": "d"})


def test_unknown_task_and_missing_field():
  with pytest.raises(KeyError, match="unknown task"):
    prompts.format_input("nope", FIELDS)
  with pytest.raises(KeyError):
    prompts.format_input("seqrec", {"sid": "<a_1>"})


def test_choose_variant_is_deterministic_and_spread():
  picks = [prompts.choose_variant("seqrec", f"u{n}", seed=0) for n in range(400)]
  assert picks == [prompts.choose_variant("seqrec", f"u{n}", seed=0) for n in range(400)]
  counts = [picks.count(v) for v in range(prompts.num_variants("seqrec"))]
  assert min(counts) > 60  # ~100 each out of 400.
  assert picks != [prompts.choose_variant("seqrec", f"u{n}", seed=1) for n in range(400)]


def test_vocabulary_text_has_no_placeholders():
  text = prompts.vocabulary_text()
  assert len(text) >= sum(len(t) for t in prompts.TEMPLATES.values())
  assert not any("{" in t for t in text)
