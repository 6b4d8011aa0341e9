"""Tests for gr_jax.enrich.interest_miner.ChatInterestMiner with a scripted chat client."""

import json

from gr_jax.enrich import backends
from gr_jax.enrich import interest_miner
from gr_jax.enrich import llm_prompts as prompts


class Scripted:
  name, model, supports_images = "scripted", "m", False

  def __init__(self, answers):
    self.answers, self.requests = list(answers), []

  def chat(self, messages, max_tokens=256, temperature=0.0, json_schema=None):
    self.requests.append({"messages": messages, "temperature": temperature,
                          "json_schema": json_schema})
    answer = self.answers.pop(0)
    if isinstance(answer, Exception):
      raise answer
    return backends.ChatResult(answer)


JOB = interest_miner.InterestJob("a", "Trail running shoes", "Grippy soles.",
                                 "Bright orange mesh sneakers.")


def test_cot_prompt_and_strict_json():
  client = Scripted(['Thinking... {"reasoning": "r", "interests": ["Trail running shoes", '
                     '"outdoor adventure", "endurance training"]}'])
  miner = interest_miner.ChatInterestMiner(client)
  out = miner(JOB)
  assert out.value == ["outdoor adventure", "endurance training"]  # Title echo dropped.
  msgs = client.requests[0]["messages"]
  assert msgs[0]["content"] == prompts.INTEREST_SYSTEM and len(msgs) == 2
  assert "Think step by step" in msgs[1]["content"] and "Bright orange mesh" in msgs[1]["content"]
  assert client.requests[0]["json_schema"] is None and miner.prompt_version == "mdim-v1"


def test_malformed_answers_are_retried_then_recorded():
  client = Scripted(["no json here", '{"interests": ["one"]}', "```\n{bad\n```"])
  out = interest_miner.ChatInterestMiner(client)(JOB)
  assert not out.ok and out.attempts == 3 and out.error.startswith("malformed")
  assert out.extra["raw"] == "```\n{bad\n```"
  assert [r["temperature"] for r in client.requests] == [0.0, 0.7, 0.7]
  out = interest_miner.ChatInterestMiner(Scripted([backends.RequestError("x", attempts=4)]))(JOB)
  assert not out.ok and out.attempts == 4


def test_few_shot_mode_rejects_copied_examples_and_constrains_json():
  copied = json.dumps(prompts.FEW_SHOT[1][1])
  client = Scripted([copied, '{"reasoning": "r", "interests": ["trail running", "nature escapes"]}'])
  miner = interest_miner.ChatInterestMiner(client, few_shot=True, constrain_json=True)
  out = miner(JOB)
  assert out.value == ["trail running", "nature escapes"] and out.attempts == 2
  assert miner.prompt_version == "mdim-v1-fewshot-json"
  msgs = client.requests[0]["messages"]
  assert len(msgs) == 2 + 2 * len(prompts.FEW_SHOT)
  assert msgs[-1]["content"] == ("Product: Trail running shoes. Grippy soles. "
                                 "Looks: Bright orange mesh sneakers.")
  assert client.requests[0]["json_schema"] == prompts.INTEREST_JSON_SCHEMA
