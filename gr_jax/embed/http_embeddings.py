"""Client for OpenAI-compatible `/v1/embeddings` servers (vLLM, SGLang, Ollama, hosted APIs).

Text batches are sent as {"model", "input": [str, ...]}. Multimodal items
(e.g. gme-Qwen2-VL served by vLLM) are sent one per request in vLLM's chat
form {"model", "messages": [{"role": "user", "content": [image_url, text]}]}.
Requests run with bounded concurrency, a timeout, and retries with
exponential backoff on timeouts, connection errors, 429/5xx and malformed
answers. The API key is read from an environment variable and is never
logged, stored in fingerprints or written to files.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import mimetypes
import os
import random
import time
import urllib.error
import urllib.request
from typing import Callable, Sequence

import numpy as np
import tqdm

from gr_jax.embed import fusion


class EmbeddingServiceError(RuntimeError):
  """The server failed or answered badly after all retries (or with a non-retryable error)."""


class _Retryable(Exception):
  def __init__(self, why: str, retry_after: float | None = None):
    super().__init__(why)
    self.retry_after = retry_after


def image_data_url(path: str) -> str:
  """Reads an image file as a base64 `data:` URL."""
  mime = mimetypes.guess_type(path)[0] or "image/png"
  with open(path, "rb") as f:
    return f"data:{mime};base64," + base64.b64encode(f.read()).decode("ascii")


class HttpEmbeddingClient:
  """Embeds texts (or text + image items) through an OpenAI-compatible endpoint."""

  name = "http"

  def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY",
               batch_size: int = 32, timeout_s: float = 60.0, max_retries: int = 5,
               backoff_s: float = 1.0, concurrency: int = 4, dimensions: int | None = None,
               sleep: Callable[[float], None] = time.sleep):
    if not base_url:
      raise ValueError("an embeddings base URL is required (e.g. http://127.0.0.1:8000/v1)")
    self.url = base_url.rstrip("/")
    if not self.url.endswith("/embeddings"):
      self.url += "/embeddings"
    self.model, self.api_key_env = model, api_key_env
    self.batch_size, self.timeout_s = max(1, int(batch_size)), float(timeout_s)
    self.max_retries, self.backoff_s = int(max_retries), float(backoff_s)
    self.concurrency, self.dimensions = max(1, int(concurrency)), dimensions
    self._sleep = sleep
    self.stats = {"requests": 0, "retries": 0}

  def identity(self) -> dict:
    """Endpoint and model (never the key) for cache fingerprints."""
    return {"encoder": self.name, "url": self.url, "model": self.model,
            "dimensions": self.dimensions}

  def _headers(self) -> dict:
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(self.api_key_env or "", "")
    if key:
      headers["Authorization"] = "Bearer " + key
    return headers

  def _post_once(self, body: dict, expected: int) -> list[list[float]]:
    data = json.dumps(body).encode("utf-8")
    req = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
    self.stats["requests"] += 1
    try:
      with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
        raw = resp.read()
    except urllib.error.HTTPError as e:
      detail = e.read()[:300].decode("utf-8", "replace")
      if e.code == 429 or e.code >= 500:
        retry_after = e.headers.get("Retry-After") if e.headers else None
        try:
          retry_after = float(retry_after) if retry_after else None
        except ValueError:
          retry_after = None
        raise _Retryable(f"HTTP {e.code}: {detail}", retry_after) from e
      raise EmbeddingServiceError(f"{self.url}: HTTP {e.code}: {detail}") from e
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
      raise _Retryable(f"{type(e).__name__}: {e}") from e
    try:
      obj = json.loads(raw)
      rows = sorted(obj["data"], key=lambda d: d.get("index", 0))
      vectors = [r["embedding"] for r in rows]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
      raise _Retryable(f"malformed response ({type(e).__name__}: {e})") from e
    if len(vectors) != expected:
      raise _Retryable(f"expected {expected} embeddings, got {len(vectors)}")
    if not all(isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v)
               for v in vectors):
      raise _Retryable("embeddings are not lists of numbers")
    if len({len(v) for v in vectors}) != 1:
      raise _Retryable("embeddings of different lengths in one response")
    return vectors

  def _post(self, body: dict, expected: int) -> np.ndarray:
    last = ""
    for attempt in range(self.max_retries + 1):
      try:
        out = np.asarray(self._post_once(body, expected), np.float32)
        if not np.isfinite(out).all():
          raise _Retryable("non-finite values in embeddings")
        return out
      except _Retryable as e:
        last = str(e)
        if attempt == self.max_retries:
          break
        self.stats["retries"] += 1
        delay = self.backoff_s * (2 ** attempt) * (1 + 0.25 * random.random())
        if e.retry_after is not None:
          delay = max(delay, e.retry_after)
        self._sleep(delay)
    raise EmbeddingServiceError(
        f"{self.url}: giving up after {self.max_retries + 1} attempts: {last}")

  def _run(self, bodies: list[tuple[dict, int]], progress: bool, desc: str) -> np.ndarray:
    results: list[np.ndarray | None] = [None] * len(bodies)
    with concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency) as pool, \
        tqdm.tqdm(total=sum(n for _, n in bodies), desc=desc, unit="item",
                  disable=not progress) as bar:
      futures = {pool.submit(self._post, body, n): k for k, (body, n) in enumerate(bodies)}
      for fut in concurrent.futures.as_completed(futures):
        k = futures[fut]
        results[k] = fut.result()
        bar.update(bodies[k][1])
        bar.set_postfix(retries=self.stats["retries"])
    dims = {r.shape[1] for r in results if r is not None and len(r)}
    if len(dims) > 1:
      raise EmbeddingServiceError(f"{self.url}: inconsistent embedding sizes {sorted(dims)}")
    if not results:
      return np.zeros((0, 0), np.float32)
    return fusion.normalize(np.concatenate(results, axis=0))

  def _body(self, **fields) -> dict:
    body = {"model": self.model, "encoding_format": "float", **fields}
    if self.dimensions:
      body["dimensions"] = int(self.dimensions)
    return body

  def encode(self, texts: Sequence[str], progress: bool = False, desc: str = "text") -> np.ndarray:
    """Unit-norm float32 [N, D] embeddings of `texts` in input order."""
    texts = [t if t else " " for t in texts]  # Some servers reject empty strings.
    bodies = [(self._body(input=texts[i:i + self.batch_size]), len(texts[i:i + self.batch_size]))
              for i in range(0, len(texts), self.batch_size)]
    return self._run(bodies, progress, desc)

  def encode_multimodal(self, texts: Sequence[str], image_paths: Sequence[str | None],
                        progress: bool = False, desc: str = "fused") -> np.ndarray:
    """One unified embedding per item from its text and (optional) image."""
    bodies = []
    for text, path in zip(texts, image_paths):
      content = []
      if path is not None:
        content.append({"type": "image_url", "image_url": {"url": image_data_url(path)}})
      content.append({"type": "text", "text": text or " "})
      bodies.append((self._body(messages=[{"role": "user", "content": content}]), 1))
    return self._run(bodies, progress, desc)
