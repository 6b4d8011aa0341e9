"""Gin-configurable hyper-parameters of one RQ-VAE tokenizer run (gin/rqvae/*.gin)."""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import gin

MODALITIES = ("text", "image", "fused")
COLLISION_STRATEGIES = ("reassign", "append", "none")
# Collaborative signal in the tokenizer input (DIR/embeddings/collab.npy, `gr-jax collab-embed`).
COLLABORATIVE = ("none", "concat", "replace")


@gin.configurable(module="gr_jax.rqvae")
@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
  """One RQ-VAE run; MACRec when `modalities` == ("text", "image") and `dual` is set."""
  run: str = "tiger"  # Output dir name: DIR/tokenizer/<run>/.
  modalities: Sequence[str] = ("text",)  # One RQ-VAE per modality; two + dual = MACRec.
  dual: bool = False  # MACRec: train text and image RQ-VAEs jointly with contrastive terms.
  codebook_sizes: Sequence[int] = (256, 256, 256)  # Codes per level.
  latent_dim: int = 32  # Dimension of the quantized latent.
  encoder_widths: Sequence[int] = (512, 256, 128)  # Hidden widths (decoder mirrors them).
  dropout: float = 0.0
  activation: str = "silu"  # MLP activation; "relu" as LC-Rec / MQL4GRec.
  beta: float = 0.25  # Commitment weight.
  # "sum": recon and quantization losses sum over the feature dimension (mean over rows) and
  # over levels; "mean": element means (`F.mse_loss`) and the mean over levels (LC-Rec).
  loss_reduction: str = "sum"
  # "output": one straight-through estimator on the summed codewords, every level's
  # commitment reaches the encoder; "per_level": LC-Rec / MQL4GRec (see rqvae.py).
  straight_through: str = "output"
  epochs: int = 200  # Passes over the items.
  max_steps: Optional[int] = None  # Caps the number of steps (None: epochs * steps/epoch).
  batch_size: int = 1024
  learning_rate: float = 1e-3
  weight_decay: float = 1e-4  # AdamW.
  warmup_steps: int = 0
  kmeans_init: bool = True  # Codebooks from k-means(++) on each level's first residuals.
  kmeans_iters: int = 20
  kmeans_samples: int = 65536  # Rows sampled for k-means init.
  dead_code_every: int = 200  # Steps between dead-code restarts (0: never).
  dead_code_stop: float = 0.8  # No restarts after this fraction of the steps.
  ema: bool = False  # EMA codebook updates instead of the gradient codebook loss.
  ema_decay: float = 0.99
  # MACRec (dual) terms.
  pseudo_label_k: int = 512  # k-means clusters per modality for pseudo-labels.
  con_weights: Sequence[float] = (0.0, 0.0, 0.1, 0.1)  # Per-level cross-modal InfoNCE weights.
  align_weight: float = 0.001  # InfoNCE between quantized text and image latents.
  con_temperature: float = 0.1
  align_temperature: float = 0.1
  # Cosine similarities in the InfoNCE terms (as the info_nce package peers use); False: raw
  # inner products as written in the paper (the encoder can then inflate the latent scale).
  contrastive_cosine: bool = True
  # Collaborative SIDs: 'concat' appends the train-split SASRec item embeddings to every
  # modality's input (each block scaled to unit mean row norm, the collaborative one times
  # `collaborative_weight`); 'replace' uses them alone (datasets without content).
  collaborative: str = "none"
  collaborative_weight: float = 1.0
  # Output.
  collision: str = "reassign"  # reassign | append | none.
  checkpoint_every: int = 500  # Steps between checkpoints (resume after a kill).
  seed: int = 0

  def __post_init__(self):
    for m in self.modalities:
      if m not in MODALITIES:
        raise ValueError(f"unknown modality {m!r}; expected one of {MODALITIES}")
    if self.dual and tuple(self.modalities) != ("text", "image"):
      raise ValueError("dual (MACRec) needs modalities=('text', 'image')")
    if self.collision not in COLLISION_STRATEGIES:
      raise ValueError(f"collision must be one of {COLLISION_STRATEGIES}, got {self.collision!r}")
    if self.collaborative not in COLLABORATIVE:
      raise ValueError(f"collaborative must be one of {COLLABORATIVE}, got {self.collaborative!r}")
    if self.collaborative_weight <= 0:
      raise ValueError(f"collaborative_weight must be > 0, got {self.collaborative_weight}")
    if self.activation not in ("silu", "relu"):
      raise ValueError(f"activation must be silu or relu, got {self.activation!r}")
    if self.loss_reduction not in ("sum", "mean"):
      raise ValueError(f"loss_reduction must be sum or mean, got {self.loss_reduction!r}")
    if self.straight_through not in ("output", "per_level"):
      raise ValueError(f"straight_through must be output or per_level, got "
                       f"{self.straight_through!r}")
    if not self.codebook_sizes or min(self.codebook_sizes) < 1:
      raise ValueError(f"bad codebook_sizes {self.codebook_sizes}")
    if self.dual and len(self.con_weights) != len(self.codebook_sizes):
      raise ValueError("con_weights needs one weight per level")

  def to_json(self) -> dict:
    d = dataclasses.asdict(self)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

  @classmethod
  def from_json(cls, d: dict) -> "TokenizerConfig":
    fields = {f.name for f in dataclasses.fields(cls)}
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields}
    return cls.__wrapped__(**d) if hasattr(cls, "__wrapped__") else cls(**d)


def prefixes_for(modality: str, num_levels: int, dual: bool) -> list[str]:
  """Token prefixes per level: a, b, c, ...; the MACRec image modality uses A, B, C, ..."""
  base = "A" if (dual and modality == "image") else "a"
  if num_levels > 26:
    raise ValueError(f"at most 26 levels, got {num_levels}")
  return [chr(ord(base) + l) for l in range(num_levels)]
