"""OpenAI-compatible chat-completions client (vLLM, SGLang, Ollama, llama.cpp server, hosted APIs).

POSTs `{base_url}/chat/completions` with the standard body; images travel as
`image_url` parts (base64 data URLs built by the captioner). Retries with
exponential backoff (and `Retry-After`) on timeouts, dropped connections, HTTP
408/409/425/429/5xx and malformed response bodies. Errors no retry can fix abort the
run at once (FatalBackendError naming the URL): connection refused, unknown host,
HTTP 401/403 (the key), 404 (a wrong base URL or an unknown model) and a 400/422
saying the model does not exist.
The API key is read from the environment variable named by `api_key_env`, sent
only in the Authorization header, and scrubbed from every message this module
produces; it is never logged or written.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import re
import socket
import time
import urllib.error
import urllib.request

from gr_jax.enrich.backends import ChatResult
from gr_jax.enrich.backends import FatalBackendError
from gr_jax.enrich.backends import RequestError

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
FATAL_STATUS = frozenset({401, 403, 404})
_UNKNOWN_MODEL = re.compile(r"model.{0,80}(not (be )?found|does not exist|unknown|not available)|"
                            r"(unknown|invalid) model", re.IGNORECASE | re.DOTALL)


class _Retry(Exception):
  """One failed attempt that may succeed later."""

  def __init__(self, why: str, retry_after: float | None = None):
    super().__init__(why)
    self.retry_after = retry_after


class HttpChatClient:
  """Thread-safe client; one instance is shared by the runner's worker threads."""

  name = "http"

  def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY",
               timeout_s: float = 120.0, max_retries: int = 4, backoff_s: float = 1.0,
               backoff_max_s: float = 60.0, supports_images: bool = True,
               extra_body: dict | None = None, logger: logging.Logger | None = None):
    if not base_url.startswith(("http://", "https://")):
      raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
    self.model = model
    self.url = base_url.rstrip("/") + "/chat/completions"
    self.api_key_env = api_key_env
    self._key = os.environ.get(api_key_env) or None
    self.timeout_s, self.max_retries = timeout_s, max_retries
    self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
    self.supports_images = supports_images
    self.accepts_remote_urls = True
    self.extra_body = dict(extra_body or {})
    self.log = logger or logging.getLogger(__name__)

  def __repr__(self) -> str:
    key = f"${self.api_key_env} set" if self._key else f"${self.api_key_env} unset"
    return f"HttpChatClient(url={self.url!r}, model={self.model!r}, {key})"

  def redact(self, text: str) -> str:
    """`text` with the API key (if any) replaced by '***'."""
    text = str(text)
    return text.replace(self._key, "***") if self._key else text

  def _backoff(self, attempt: int, retry_after: float | None) -> float:
    delay = min(self.backoff_max_s, self.backoff_s * 2 ** attempt) * (0.5 + random.random() / 2)
    if retry_after is not None:
      delay = max(delay, min(retry_after, self.backoff_max_s))
    return delay

  def _post(self, body: bytes) -> str:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if self._key:
      headers["Authorization"] = f"Bearer {self._key}"
    req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
    try:
      with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
        raw = resp.read()
    except urllib.error.HTTPError as e:
      detail = self.redact(e.read()[:200].decode("utf-8", "replace"))
      if e.code in FATAL_STATUS or (e.code in (400, 422) and _UNKNOWN_MODEL.search(detail)):
        hint = (f"check ${self.api_key_env}" if e.code in (401, 403) else
                f"check the base URL and the model name {self.model!r}")
        raise FatalBackendError(f"HTTP {e.code} from {self.url} ({hint}): {detail}") from None
      if e.code in RETRY_STATUS:
        retry_after = None
        try:
          retry_after = float(e.headers.get("Retry-After", ""))
        except (TypeError, ValueError):
          pass
        raise _Retry(f"HTTP {e.code}: {detail}", retry_after) from None
      raise RequestError(f"HTTP {e.code} from {self.url}: {detail}") from None
    except (socket.timeout, TimeoutError) as e:
      raise _Retry(f"timeout after {self.timeout_s}s ({type(e).__name__})") from None
    except urllib.error.URLError as e:
      if isinstance(e.reason, (ConnectionRefusedError, socket.gaierror)):
        why = ("connection refused (is the server running?)"
               if isinstance(e.reason, ConnectionRefusedError) else f"unknown host ({e.reason})")
        raise FatalBackendError(f"cannot reach {self.url}: {self.redact(why)}") from None
      raise _Retry(f"connection error: {self.redact(e.reason)}") from None
    except (ConnectionError, http.client.HTTPException, OSError) as e:
      raise _Retry(f"connection error: {type(e).__name__}: {self.redact(e)}") from None
    try:
      payload = json.loads(raw.decode("utf-8"))
      content = payload["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as e:
      raise _Retry(f"malformed response body ({type(e).__name__})") from None
    if isinstance(content, list):  # Content parts.
      content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
      raise _Retry("malformed response body (content is not text)")
    return self.redact(content)

  def chat(self, messages: list[dict], max_tokens: int = 256, temperature: float = 0.0,
           json_schema: dict | None = None) -> ChatResult:
    """One chat completion with retries; raises RequestError when they run out."""
    body = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
            "temperature": temperature, **self.extra_body}
    if json_schema is not None:
      body["response_format"] = {"type": "json_schema",
                                 "json_schema": {"name": "answer", "schema": json_schema}}
    data = json.dumps(body).encode("utf-8")
    why = ""
    for attempt in range(self.max_retries + 1):
      try:
        return ChatResult(self._post(data), attempts=attempt + 1)
      except _Retry as e:
        why = str(e)
        if attempt == self.max_retries:
          break
        delay = self._backoff(attempt, e.retry_after)
        self.log.debug("retry %d/%d in %.2fs: %s", attempt + 1, self.max_retries, delay, why)
        time.sleep(delay)
    raise RequestError(f"{self.max_retries + 1} attempts failed; last: {why}",
                         attempts=self.max_retries + 1)
