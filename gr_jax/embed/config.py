"""Options of the embed stage (`gr-jax embed` flags map 1:1 onto EmbedConfig)."""

from __future__ import annotations

import dataclasses

TEXT_BACKENDS = ("minilm", "precomputed", "http", "sentence-transformers", "transformers")
IMAGE_BACKENDS = ("efficientnet-lite0", "precomputed", "open_clip", "none")
FUSED_BACKENDS = ("concat", "http", "precomputed")


@dataclasses.dataclass
class EmbedConfig:
  """Options of the embed stage (CLI flags map 1:1)."""
  text_backend: str = "minilm"
  image_backend: str = "efficientnet-lite0"
  fused_backend: str = "concat"
  max_text_tokens: int = 256        # MiniLM/transformers truncation.
  text_batch_tokens: int = 8192     # MiniLM batch budget (rows * padded length).
  image_size: int = 128             # EfficientNet input side; 224 = ImageNet native.
  image_batch_size: int = 32
  workers: int = 4                  # Image decoding threads.
  text_weight: float = 0.5          # Fused: share of similarity carried by enriched text.
  center: bool = True               # Fused: centre each block on its catalog mean.
  fused_dim: int = 0                # Fused: PCA dimension (0 = plain concatenation).
  captions: bool = True             # Fused: include CMSA captions when available.
  interests: bool = True            # Fused: include MDIM interest tags when available.
  image_fallback: str = "mean"      # "mean" or "error".
  empty_text: str = "fallback"      # "fallback" or "error".
  text_npy: str | None = None
  text_ids: str | None = None
  image_npy: str | None = None
  image_ids: str | None = None
  fused_npy: str | None = None
  fused_ids: str | None = None
  allow_missing: bool = False       # Precomputed: fallback rows for items without one.
  http_url: str | None = None
  http_model: str | None = None
  http_api_key_env: str = "OPENAI_API_KEY"
  http_batch_size: int = 32
  http_timeout: float = 60.0
  http_concurrency: int = 4
  hub_text_model: str | None = None
  hub_image_model: str | None = None
  hub_image_pretrained: str | None = None
  allow_download: bool = False
  force: bool = False
