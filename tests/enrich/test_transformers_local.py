"""Tests for gr_jax.enrich.backends.transformers_local (with stand-in model objects) and lazy imports."""

import os
import subprocess
import sys

from PIL import Image

from gr_jax.enrich import captioner
from gr_jax.enrich import images
from gr_jax.enrich.backends import transformers_local

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class FakeTensor(list):

  @property
  def shape(self):
    return (1, len(self[0]))


class FakeBatch(dict):

  def to(self, device):
    self["device"] = device
    return self


class FakeProcessor:
  """Records the chat messages; 'tokenizes' to a fixed prompt of 3 ids."""

  def __init__(self):
    self.messages = None

  def apply_chat_template(self, messages, **kwargs):
    assert kwargs["add_generation_prompt"] and kwargs["return_dict"]
    self.messages = messages
    return FakeBatch(input_ids=FakeTensor([[1, 2, 3]]))

  def decode(self, tokens, skip_special_tokens):
    assert skip_special_tokens
    return " ".join({7: "A", 8: "red", 9: "mug."}[t] for t in tokens)


class FakeModel:

  def __init__(self):
    self.kwargs = None

  def generate(self, **kwargs):
    self.kwargs = kwargs
    return [[1, 2, 3, 7, 8, 9]]


def test_captioner_through_transformers_client(tmp_path):
  Image.new("RGB", (20, 10), (200, 0, 0)).save(tmp_path / "a.png")
  proc, model = FakeProcessor(), FakeModel()
  client = transformers_local.TransformersChatClient("local/qwen-vl", vision=True,
                                                     hf_model=model, processor=proc)
  job = captioner.CaptionJob("a", "Red mug", "", images.resolve(str(tmp_path), "a.png"))
  out = captioner.ChatCaptioner(client)(job)
  assert out.value == "A red mug." and out.extra == {"image": "ok"}
  user = proc.messages[-1]["content"]
  assert user[0]["type"] == "image" and user[0]["image"].size == (20, 10)
  assert user[1]["type"] == "text" and "Red mug" in user[1]["text"]
  assert model.kwargs["max_new_tokens"] == 120 and model.kwargs["do_sample"] is False
  assert model.kwargs["device"] == "cpu"


def test_text_model_gets_plain_string_messages():
  proc = FakeProcessor()
  client = transformers_local.TransformersChatClient("local/qwen", hf_model=FakeModel(),
                                                     processor=proc)
  client.chat([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
              temperature=0.5)
  assert proc.messages == [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]


def test_optional_runtimes_are_not_imported_by_the_default_path(tmp_path):
  code = ("import sys; from gr_jax.enrich import stage; "
          f"stage.run_enrich({str(tmp_path)!r}, stage.EnrichConfig(progress=False)); "
          "print(sorted(m for m in ('xllamacpp', 'transformers', 'torch', 'jax') "
          "if m in sys.modules))")
  (tmp_path / "items.jsonl").write_text('{"item_id": "a", "title": "Red ceramic mug"}\n')
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       check=True)
  assert out.stdout.strip() == "[]"
