"""Enrichment backends: chat clients (HTTP, llama.cpp, transformers) and the offline heuristic.

Chat clients share one interface, `chat(messages, max_tokens, temperature,
json_schema) -> ChatResult`, over OpenAI-format messages (images as
`image_url` parts holding data URLs or http URLs). Optional runtimes are
imported only when their backend is chosen.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Protocol

from gr_jax import io_utils

CHAT_BACKENDS = {
    "http": ("gr_jax.enrich.backends.http", "HttpChatClient"),
    "llamacpp": ("gr_jax.enrich.backends.llamacpp", "LlamaCppChatClient"),
    "transformers": ("gr_jax.enrich.backends.transformers_local", "TransformersChatClient"),
}
BACKENDS = ("heuristic",) + tuple(CHAT_BACKENDS)


class RequestError(RuntimeError):
  """A request that failed for good: retries ran out (timeouts, 429, 5xx, bad bodies) or HTTP 4xx."""

  def __init__(self, message: str, attempts: int = 1):
    super().__init__(message)
    self.attempts = attempts


class FatalBackendError(io_utils.StageError):
  """An error that would fail every item (server down, auth, unknown model): aborts the run."""


@dataclasses.dataclass
class ChatResult:
  """A chat answer and how many requests it took (1 = no retry)."""
  text: str
  attempts: int = 1


class ChatClient(Protocol):
  """What the CMSA captioner and MDIM miner need from a model."""
  name: str            # backend name recorded in every record ("http", "llamacpp", ...)
  model: str           # model name/path recorded in every record
  supports_images: bool

  def chat(self, messages: list[dict], max_tokens: int = 256, temperature: float = 0.0,
           json_schema: dict | None = None) -> ChatResult:
    ...


def make_chat_client(kind: str, **options) -> ChatClient:
  """Builds a chat client by backend name; imports its module only now."""
  if kind not in CHAT_BACKENDS:
    raise ValueError(f"unknown chat backend {kind!r}; expected one of {sorted(CHAT_BACKENDS)}")
  module_name, cls_name = CHAT_BACKENDS[kind]
  return getattr(importlib.import_module(module_name), cls_name)(**options)
