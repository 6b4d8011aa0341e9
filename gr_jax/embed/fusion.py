"""Unified multimodal item embedding: weighted concatenation of centred, normalised blocks.

Definition (TriAlignGR "fused" embedding, offline default):

  t_i = normalise(T_i - mean_j T_j)              enriched-text block (title, caption,
                                                 interests, description)
  v_i = normalise(V_i - mean_{j: image ok} V_j)  image block (EfficientNet-Lite0 pooled)
  fused_i = [sqrt(w) * t_i, sqrt(1 - w) * v_i]    for items with an image
  fused_i = [t_i, 0]                              for items without one (text only)

so ||fused_i|| = 1 and, for two items with images,
cos(fused_a, fused_b) = w * cos(t_a, t_b) + (1 - w) * cos(v_a, v_b): `w`
(`text_weight`) is exactly the share of similarity the text carries.
Centring removes the large component every image (post-ReLU6 features) or
every text shares, which otherwise dominates cosine similarity.
Optional `dim` > 0 projects onto the top principal components and renormalises.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class FusionConfig:
  """How the fused embedding combines enriched text and image."""
  text_weight: float = 0.5  # w: share of cosine similarity carried by the text block.
  center: bool = True       # Subtract each block's catalog mean before normalising.
  dim: int = 0              # > 0: PCA-project the concatenation to this many dims.

  def validate(self) -> None:
    if not 0.0 <= self.text_weight <= 1.0:
      raise ValueError(f"text_weight must be in [0, 1], got {self.text_weight}")
    if self.dim < 0:
      raise ValueError(f"dim must be >= 0, got {self.dim}")


def normalize(x_NxD: np.ndarray) -> np.ndarray:
  """Rows scaled to unit L2 norm (zero rows stay zero); float32."""
  x_NxD = np.asarray(x_NxD, np.float32)
  norm = np.linalg.norm(x_NxD, axis=1, keepdims=True)
  return x_NxD / np.maximum(norm, 1e-12)


def center_normalize(x_NxD: np.ndarray, rows: np.ndarray) -> np.ndarray:
  """Unit rows minus the mean of `rows`, renormalised; rows that centring would zero keep x."""
  x = normalize(x_NxD)
  if rows.sum() < 2:
    return x
  c = x - x[rows].mean(axis=0, keepdims=True)
  degenerate = np.linalg.norm(c, axis=1) < 1e-4
  return normalize(np.where(degenerate[:, None], x, c))


def pca_project(x_NxD: np.ndarray, dim: int) -> np.ndarray:
  """Projects rows onto the top-`dim` principal directions (deterministic sign), renormalised."""
  if dim >= x_NxD.shape[1]:
    return normalize(x_NxD)
  x = x_NxD.astype(np.float64)
  mean = x.mean(axis=0, keepdims=True)
  cov = (x - mean).T @ (x - mean)
  _, vecs = np.linalg.eigh(cov)
  basis = vecs[:, ::-1][:, :dim]
  signs = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(dim)])
  basis = basis * np.where(signs == 0, 1.0, signs)
  return normalize((x - mean) @ basis)


def fuse(text_NxDt: np.ndarray, image_NxDi: np.ndarray | None, image_ok_N: np.ndarray | None,
         config: FusionConfig = FusionConfig()) -> np.ndarray:
  """Fused [N, Dt + Di] (or [N, dim]) unit-norm float32 embedding; see the module docstring."""
  config.validate()
  n = len(text_NxDt)
  all_rows = np.ones((n,), bool)
  t = center_normalize(text_NxDt, all_rows) if config.center else normalize(text_NxDt)
  if image_NxDi is None or image_ok_N is None or not np.any(image_ok_N):
    fused = t
  else:
    ok = np.asarray(image_ok_N, bool)
    v = center_normalize(image_NxDi, ok) if config.center else normalize(image_NxDi)
    v = np.where(ok[:, None], v, 0.0).astype(np.float32)
    w_t = np.where(ok, np.sqrt(config.text_weight), 1.0).astype(np.float32)[:, None]
    w_v = np.float32(np.sqrt(1.0 - config.text_weight))
    fused = np.concatenate([w_t * t, w_v * v], axis=1)
  if config.dim:
    fused = pca_project(fused, config.dim)
  return normalize(fused)
