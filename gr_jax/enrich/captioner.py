"""CMSA captioner: item image (+ title) -> one concise, attribute-rich description."""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Mapping, Sequence

from gr_jax.data import schema
from gr_jax.enrich import backends
from gr_jax.enrich import images
from gr_jax.enrich import llm_prompts as prompts
from gr_jax.enrich import parsing
from gr_jax.enrich.runner import Outcome

NO_IMAGE_POLICIES = ("text", "skip")


@dataclasses.dataclass
class CaptionJob:
  """What the captioner sees of one item."""
  item_id: str
  title: str
  description: str
  image: images.ImageRef
  object_words: list[str] = dataclasses.field(default_factory=list)
  # When set, object words are computed later (only for items not in the cache)
  # by this deterministic source, and the cache key hashes the source, not the words.
  object_source: str = ""


ObjectWords = Mapping[str, Sequence[str]] | Callable[[CaptionJob], Sequence[str]] | None


EFFICIENTNET = "efficientnet"
EFFICIENTNET_K, EFFICIENTNET_MIN_PROB = 3, 0.15
EFFICIENTNET_SOURCE = f"efficientnet-lite0/top{EFFICIENTNET_K}/p{EFFICIENTNET_MIN_PROB}"


def efficientnet_object_words(jobs: Sequence[CaptionJob], progress: bool = False) -> None:
  """Fills `object_words` of jobs with local images: EfficientNet-Lite0's top ImageNet classes.

  Classes with probability >= EFFICIENTNET_MIN_PROB, best first (at most
  EFFICIENTNET_K). Imports JAX and gr_jax.embed only when called.
  """
  from gr_jax.encoders import efficientnet_lite  # pylint: disable=g-import-not-at-top
  todo = [j for j in jobs if j.image.status == images.OK]
  if not todo:
    return
  tops = efficientnet_lite.get_encoder().top_classes([j.image.path for j in todo],
                                                      k=EFFICIENTNET_K, progress=progress)
  for job, top in zip(todo, tops):
    job.object_words = [name.split(" / ")[0].strip() for _, name, prob in (top or ())
                        if prob >= EFFICIENTNET_MIN_PROB]


def caption_jobs(data_dir: str, items: Iterable[schema.Item],
                 object_words: ObjectWords = None) -> list[CaptionJob]:
  """One job per item; images resolved (and hashed) against `data_dir`.

  `object_words` optionally adds object words per item, as {item_id: [words]},
  a function of the job, or "efficientnet" (EfficientNet-Lite0's top ImageNet
  classes, computed by `efficientnet_object_words` for uncached items only).
  """
  jobs = []
  for item in items:
    job = CaptionJob(item.item_id, item.title, item.description,
                     images.resolve(data_dir, item.image))
    if object_words == EFFICIENTNET:
      job.object_source = EFFICIENTNET_SOURCE
    elif callable(object_words):
      job.object_words = [str(w) for w in object_words(job)]
    elif object_words:
      job.object_words = [str(w) for w in object_words.get(item.item_id, ())]
    jobs.append(job)
  return jobs


class ChatCaptioner:
  """CMSA with a chat model (a VLM over HTTP, llama.cpp + mmproj, or transformers).

  Local images go out as base64 data URLs; remote URLs are passed through to
  backends that accept them. Items without a usable image follow `no_image`:
  'text' asks for a text-only description from title + description, 'skip'
  records a permanent failure. Empty/unusable answers are re-asked up to
  `max_answer_attempts` times, then recorded as failures.
  """

  field = "caption"

  def __init__(self, client: backends.ChatClient, no_image: str = "text",
               max_answer_attempts: int = 3, max_tokens: int = 120, max_image_side: int = 1024,
               retry_temperature: float = 0.7):
    if no_image not in NO_IMAGE_POLICIES:
      raise ValueError(f"no_image must be one of {NO_IMAGE_POLICIES}, got {no_image!r}")
    self.client, self.no_image = client, no_image
    self.backend, self.model = client.name, client.model
    self.prompt_version = prompts.CAPTION_VERSION
    self.max_answer_attempts, self.max_tokens = max_answer_attempts, max_tokens
    self.max_image_side, self.retry_temperature = max_image_side, retry_temperature

  def _image_url(self, job: CaptionJob) -> str | None:
    if not self.client.supports_images:
      return None
    if job.image.status == images.OK:
      return images.data_url(job.image.path, self.max_image_side)
    if job.image.status == images.REMOTE and getattr(self.client, "accepts_remote_urls", False):
      return job.image.url
    return None

  def hash_inputs(self, job: CaptionJob) -> dict:
    visual = job.image.status == images.OK or (
        job.image.status == images.REMOTE and getattr(self.client, "accepts_remote_urls", False))
    inputs = {"title": job.title, "image": job.image.hash_input(), "no_image": self.no_image,
              "images": self.client.supports_images}
    if not (visual and self.client.supports_images):
      inputs["description"] = job.description
    return inputs

  def __call__(self, job: CaptionJob) -> Outcome:
    try:
      url = self._image_url(job)
    except OSError:
      url, job.image = None, images.ImageRef(images.UNREADABLE)
    status = job.image.status  # ok | remote (sent) | no_image | missing_file | unreadable
    if url is None and status in (images.OK, images.REMOTE):
      status += "_not_sent"  # Text-only model / remote URLs unsupported: text-only caption.
    if url is None and self.no_image == "skip":
      return Outcome(error=f"no_image: {status}", permanent=True, extra={"image": status})
    messages = prompts.caption_messages(job.title, url, job.description)
    attempts, last_error = 0, ""
    for k in range(self.max_answer_attempts):
      try:
        result = self.client.chat(messages, max_tokens=self.max_tokens,
                                  temperature=0.0 if k == 0 else self.retry_temperature)
      except backends.RequestError as e:
        return Outcome(error=f"request: {e}", attempts=attempts + e.attempts,
                       extra={"image": status})
      attempts += result.attempts
      try:
        return Outcome(value=parsing.clean_caption(result.text), attempts=attempts,
                       extra={"image": status})
      except parsing.MalformedAnswer as e:
        last_error = f"malformed: {e}"
    return Outcome(error=last_error, attempts=attempts, extra={"image": status})
