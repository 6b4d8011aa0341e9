"""Local Hugging Face `transformers` backend (imported only when chosen; needs torch + transformers).

Text models (MDIM, e.g. Qwen/Qwen2.5-7B-Instruct) load with AutoModelForCausalLM
+ the tokenizer's chat template; vision-language models (CMSA, e.g.
Qwen/Qwen2.5-VL-7B-Instruct) load with AutoModelForImageTextToText + AutoProcessor
when `vision=True`. `model` is a local directory or a hub id; loading from the
hub is the user's choice (set HF_HUB_OFFLINE=1 to forbid it).
"""

from __future__ import annotations

import threading

from gr_jax.enrich import images
from gr_jax.enrich.backends import ChatResult
from gr_jax.enrich.backends import FatalBackendError

INSTALL_HINT = "pip install torch==2.13.0 transformers==5.23.0"


def to_hf_messages(messages: list[dict]) -> tuple[list[dict], list]:
  """OpenAI-format messages -> (processor chat messages, PIL images in order)."""
  out, pil = [], []
  for m in messages:
    content = m["content"]
    if isinstance(content, str):
      out.append({"role": m["role"], "content": [{"type": "text", "text": content}]})
      continue
    parts = []
    for part in content:
      if part.get("type") == "image_url":
        image = images.decode_data_url(part["image_url"]["url"]).convert("RGB")
        pil.append(image)
        parts.append({"type": "image", "image": image})
      elif part.get("type") == "text":
        parts.append({"type": "text", "text": part["text"]})
    out.append({"role": m["role"], "content": parts})
  return out, pil


class TransformersChatClient:
  """Greedy/sampled generation with a local transformers model (serialised calls)."""

  name = "transformers"
  accepts_remote_urls = False

  def __init__(self, model: str, vision: bool = False, device: str = "cpu", dtype: str = "auto",
               hf_model=None, processor=None):
    self.model, self.supports_images, self.device, self.dtype = model, vision, device, dtype
    self._model, self._processor = hf_model, processor  # Injected objects skip loading.
    self._lock = threading.Lock()

  def _load(self):
    try:
      import transformers  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise FatalBackendError(f"the transformers backend needs: {INSTALL_HINT}") from e
    try:
      if self.supports_images:
        self._processor = transformers.AutoProcessor.from_pretrained(self.model)
        self._model = transformers.AutoModelForImageTextToText.from_pretrained(
            self.model, dtype=self.dtype)
      else:
        self._processor = transformers.AutoTokenizer.from_pretrained(self.model)
        self._model = transformers.AutoModelForCausalLM.from_pretrained(self.model,
                                                                        dtype=self.dtype)
    except (OSError, ValueError) as e:
      raise FatalBackendError(f"transformers could not load {self.model!r}: {e}") from e
    self._model.to(self.device).eval()

  def chat(self, messages: list[dict], max_tokens: int = 256, temperature: float = 0.0,
           json_schema: dict | None = None) -> ChatResult:
    """One generation; `json_schema` is ignored (the answer parser validates)."""
    del json_schema
    with self._lock:
      if self._model is None:
        self._load()
      if self.supports_images:
        hf_messages, _ = to_hf_messages(messages)
      else:
        hf_messages = [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str)
                        else " ".join(p.get("text", "") for p in m["content"])} for m in messages]
      inputs = self._processor.apply_chat_template(
          hf_messages, add_generation_prompt=True, tokenize=True, return_dict=True,
          return_tensors="pt").to(self.device)
      kwargs = {"max_new_tokens": max_tokens, "do_sample": temperature > 0}
      if temperature > 0:
        kwargs["temperature"] = temperature
      out = self._model.generate(**inputs, **kwargs)
      new_tokens = out[0][inputs["input_ids"].shape[-1]:]
      decode = getattr(self._processor, "decode", None) or self._processor.tokenizer.decode
      return ChatResult(decode(new_tokens, skip_special_tokens=True))
