"""MDIM interest miner: title + description + caption -> 2-4 short "deep interest" tags."""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

from gr_jax.data import schema
from gr_jax.enrich import backends
from gr_jax.enrich import llm_prompts as prompts
from gr_jax.enrich import parsing
from gr_jax.enrich.runner import Outcome


@dataclasses.dataclass
class InterestJob:
  """What the miner sees of one item (the caption is the CMSA output, '' if none/off)."""
  item_id: str
  title: str
  description: str
  caption: str = ""
  categories: list[str] = dataclasses.field(default_factory=list)
  brand: str = ""


def interest_jobs(items: Iterable[schema.Item], captions: Mapping[str, str]) -> list[InterestJob]:
  """One job per item, carrying its caption from the loaded caption view."""
  return [InterestJob(i.item_id, i.title, i.description, captions.get(i.item_id, ""),
                      list(i.categories), i.brand) for i in items]


class ChatInterestMiner:
  """MDIM with a chat LLM: chain-of-thought prompt, strict JSON answer, robust parsing.

  The first request is greedy (temperature 0); a malformed answer is re-asked
  with `retry_temperature` up to `max_answer_attempts` times in all, then the
  item is recorded as failed with the parse error. `few_shot` adds two worked
  examples (for small local models). `json_schema` asks backends that support
  constrained decoding (llama.cpp) for schema-valid JSON.
  """

  field = "interests"

  def __init__(self, client: backends.ChatClient, few_shot: bool = False,
               max_answer_attempts: int = 3, max_tokens: int = 256,
               retry_temperature: float = 0.7, constrain_json: bool = False):
    self.client, self.few_shot = client, few_shot
    self.backend, self.model = client.name, client.model
    self.prompt_version = prompts.interest_version(few_shot) + ("-json" if constrain_json else "")
    self.max_answer_attempts, self.max_tokens = max_answer_attempts, max_tokens
    self.retry_temperature = retry_temperature
    self.json_schema = prompts.INTEREST_JSON_SCHEMA if constrain_json else None

  def hash_inputs(self, job: InterestJob) -> dict:
    return {"title": job.title, "description": job.description, "caption": job.caption}

  def __call__(self, job: InterestJob) -> Outcome:
    messages = prompts.interest_messages(job.title, job.description, job.caption, self.few_shot)
    attempts, last_error, raw = 0, "", ""
    for k in range(self.max_answer_attempts):
      try:
        result = self.client.chat(messages, max_tokens=self.max_tokens,
                                  temperature=0.0 if k == 0 else self.retry_temperature,
                                  json_schema=self.json_schema)
      except backends.RequestError as e:
        return Outcome(error=f"request: {e}", attempts=attempts + e.attempts)
      attempts += result.attempts
      raw = result.text
      try:
        tags = parsing.parse_interests(raw, forbidden=(job.title,))
        if self.few_shot and any(set(tags) <= ex for ex in prompts.few_shot_answers()):
          raise parsing.MalformedAnswer("copied a worked example's tags")
        return Outcome(value=tags, attempts=attempts)
      except parsing.MalformedAnswer as e:
        last_error = f"malformed: {e}"
    return Outcome(error=last_error, attempts=attempts, extra={"raw": (raw or "")[:200]})
