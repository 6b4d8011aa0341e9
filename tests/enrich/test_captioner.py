"""Tests for gr_jax.enrich.captioner.ChatCaptioner with a scripted chat client."""

from PIL import Image

from gr_jax.enrich import backends
from gr_jax.enrich import cache
from gr_jax.enrich import captioner
from gr_jax.enrich import images
from gr_jax.enrich import llm_prompts as prompts


class Scripted:
  """A chat client that returns queued answers and records requests."""
  name, model, accepts_remote_urls = "scripted", "m", True

  def __init__(self, answers, supports_images=True):
    self.answers, self.supports_images, self.requests = list(answers), supports_images, []

  def chat(self, messages, max_tokens=256, temperature=0.0, json_schema=None):
    self.requests.append({"messages": messages, "temperature": temperature,
                          "json_schema": json_schema})
    answer = self.answers.pop(0)
    if isinstance(answer, Exception):
      raise answer
    if answer.startswith("slow "):
      return backends.ChatResult(answer[5:], attempts=2)
    return backends.ChatResult(answer)


def _jobs(tmp_path):
  Image.new("RGB", (8, 8), (0, 0, 255)).save(tmp_path / "a.png")
  items = [("a", "a.png"), ("b", "https://example.com/b.jpg"), ("c", None)]
  return [captioner.CaptionJob(i, f"Title {i}", f"Desc {i}", images.resolve(str(tmp_path), ref))
          for i, ref in items]


def test_image_kinds_and_retry_on_empty_answers(tmp_path):
  a, b, c = _jobs(tmp_path)
  client = Scripted(["", "ok", "slow A blue square tile.", "A remote photo of shoes.",
                     "Probably a plain box."])
  cap = captioner.ChatCaptioner(client)
  out = cap(a)
  assert out.value == "A blue square tile." and out.attempts == 4 and out.extra["image"] == "ok"
  assert [r["temperature"] for r in client.requests] == [0.0, 0.7, 0.7]
  url = client.requests[0]["messages"][1]["content"][0]["image_url"]["url"]
  assert url.startswith("data:image/png;base64,")
  assert cap(b).extra["image"] == "remote"
  assert client.requests[3]["messages"][1]["content"][0]["image_url"]["url"] == (
      "https://example.com/b.jpg")
  out = cap(c)
  assert out.ok and out.extra["image"] == "no_image"
  assert client.requests[4]["messages"][1]["content"] == prompts.CAPTION_TEXT_ONLY_INSTRUCTION.format(
      title="Title c", description="Desc c")


def test_failures_text_only_models_and_skip(tmp_path):
  a, _, c = _jobs(tmp_path)
  out = captioner.ChatCaptioner(Scripted(["", "x", "?"]))(a)
  assert not out.ok and out.attempts == 3 and out.error.startswith("malformed")
  out = captioner.ChatCaptioner(Scripted([backends.RequestError("HTTP 500", attempts=5)]))(a)
  assert not out.ok and out.attempts == 5 and out.error == "request: HTTP 500"
  text_only = Scripted(["A blue thing, likely plastic."], supports_images=False)
  cap = captioner.ChatCaptioner(text_only)
  assert cap(a).extra["image"] == "ok_not_sent"
  assert isinstance(text_only.requests[0]["messages"][1]["content"], str)
  assert "description" in cap.hash_inputs(a)  # Text-only answers depend on the description.
  assert "description" not in captioner.ChatCaptioner(Scripted([])).hash_inputs(a)
  out = captioner.ChatCaptioner(Scripted([]), no_image="skip")(c)
  assert not out.ok and out.permanent


def test_resolve_hashes_local_files_and_sends_only_fetchable_urls(tmp_path):
  Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
  local = images.resolve(str(tmp_path), "a.png")
  assert local.status == images.OK and local.sha == cache.file_sha(str(tmp_path / "a.png"))
  assert images.resolve(str(tmp_path), "https://x/y.jpg") == images.ImageRef(images.REMOTE,
                                                                          url="https://x/y.jpg")
  assert images.resolve(str(tmp_path), "s3://bucket/y.jpg").status == images.MISSING
