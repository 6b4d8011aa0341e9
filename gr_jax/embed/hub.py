"""Optional encoders from sentence-transformers / transformers / open_clip, imported only when chosen.

These load models the user already has (a local directory or a cached hub
name). By default they pass `local_files_only=True`, so nothing is downloaded
at run time unless `allow_download=True` is asked for explicitly.
"""

from __future__ import annotations

import importlib
from typing import Sequence

import numpy as np

from gr_jax.embed import fusion


def _require(module: str, pip_name: str):
  try:
    return importlib.import_module(module)
  except ImportError as e:
    raise ImportError(f"this embedding backend needs `{pip_name}` "
                      f"(pip install {pip_name}); it is not installed") from e


class SentenceTransformersEncoder:
  """Any sentence-transformers model (text), e.g. a local all-mpnet-base-v2 directory."""

  name = "sentence-transformers"

  def __init__(self, model: str, batch_size: int = 64, allow_download: bool = False,
               device: str | None = None):
    st = _require("sentence_transformers", "sentence-transformers")
    self.model_name, self.batch_size = model, batch_size
    self.model = st.SentenceTransformer(model, device=device,
                                        local_files_only=not allow_download)
    self.dim = int(self.model.get_sentence_embedding_dimension())

  def identity(self) -> dict:
    return {"encoder": self.name, "model": self.model_name}

  def encode(self, texts: Sequence[str], progress: bool = False, desc: str = "text") -> np.ndarray:
    del desc
    out = self.model.encode(list(texts), batch_size=self.batch_size, show_progress_bar=progress,
                            convert_to_numpy=True, normalize_embeddings=True)
    return fusion.normalize(out)


class TransformersMeanPoolEncoder:
  """A Hugging Face `AutoModel` text encoder with attention-masked mean pooling (torch)."""

  name = "transformers"

  def __init__(self, model: str, batch_size: int = 32, max_tokens: int = 256,
               allow_download: bool = False):
    transformers = _require("transformers", "transformers")
    self.torch = _require("torch", "torch")
    self.model_name, self.batch_size, self.max_tokens = model, batch_size, max_tokens
    self.tokenizer = transformers.AutoTokenizer.from_pretrained(
        model, local_files_only=not allow_download)
    self.model = transformers.AutoModel.from_pretrained(
        model, local_files_only=not allow_download).eval()
    self.dim = int(self.model.config.hidden_size)

  def identity(self) -> dict:
    return {"encoder": self.name, "model": self.model_name, "max_tokens": self.max_tokens}

  def encode(self, texts: Sequence[str], progress: bool = False, desc: str = "text") -> np.ndarray:
    import tqdm
    torch = self.torch
    out = []
    for i in tqdm.trange(0, len(texts), self.batch_size, desc=desc, disable=not progress):
      batch = self.tokenizer(list(texts[i:i + self.batch_size]), padding=True, truncation=True,
                             max_length=self.max_tokens, return_tensors="pt")
      with torch.no_grad():
        hidden = self.model(**batch).last_hidden_state
      mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
      out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).float().numpy())
    return fusion.normalize(np.concatenate(out) if out else np.zeros((0, self.dim)))


class OpenClipImageEncoder:
  """An open_clip image tower (e.g. ViT-L-14 as MQL4GRec uses) on local image files."""

  name = "open_clip"

  def __init__(self, model: str, pretrained: str, batch_size: int = 32):
    self.open_clip = _require("open_clip", "open_clip_torch")
    self.torch = _require("torch", "torch")
    self.model_name, self.pretrained, self.batch_size = model, pretrained, batch_size
    self.model, _, self.preprocess = self.open_clip.create_model_and_transforms(
        model, pretrained=pretrained)
    self.model.eval()

  def identity(self) -> dict:
    return {"encoder": self.name, "model": self.model_name, "pretrained": self.pretrained}

  def encode_paths(self, paths, progress: bool = False, desc: str = "image", workers: int = 4):
    """Same contract as EfficientNetLiteEncoder.encode_paths (logits are empty)."""
    from PIL import Image
    import tqdm
    del workers
    torch = self.torch
    n = len(paths)
    feats, ok, failures = None, np.zeros((n,), bool), {}
    rows = [i for i, p in enumerate(paths) if p is not None]
    for s in tqdm.trange(0, len(rows), self.batch_size, desc=desc, disable=not progress):
      good, tensors = [], []
      for i in rows[s:s + self.batch_size]:
        try:
          with Image.open(paths[i]) as im:
            tensors.append(self.preprocess(im.convert("RGB")))
          good.append(i)
        except Exception as e:  # noqa: BLE001 - counted fallback
          failures[i] = f"unreadable: {type(e).__name__}: {e}"[:200]
      if not good:
        continue
      with torch.no_grad():
        f = self.model.encode_image(torch.stack(tensors)).float().numpy()
      if feats is None:
        feats = np.zeros((n, f.shape[1]), np.float32)
      feats[good], ok[good] = fusion.normalize(f), True
    if feats is None:
      feats = np.zeros((n, 1), np.float32)
    self.dim = feats.shape[1]
    return feats, np.zeros((n, 0), np.float32), ok, failures
