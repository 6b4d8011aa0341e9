"""Flax linen BERT encoder (post-LayerNorm, as in Hugging Face `BertModel`) and weight import."""

from __future__ import annotations

import dataclasses
from typing import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """BERT hyper-parameters (names follow Hugging Face `config.json`)."""
  vocab_size: int = 30522
  hidden_size: int = 384
  num_hidden_layers: int = 6
  num_attention_heads: int = 12
  intermediate_size: int = 1536
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12

  @classmethod
  def from_json(cls, cfg: Mapping) -> "BertConfig":
    """Builds a config from a Hugging Face `config.json` dict."""
    if cfg.get("hidden_act", "gelu") != "gelu":
      raise ValueError(f"unsupported hidden_act {cfg.get('hidden_act')!r} (only 'gelu')")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
      raise ValueError("only absolute position embeddings are supported")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in cfg.items() if k in names})


def _dense(features: int, axes: tuple[str, str], name: str) -> nn.Dense:
  return nn.Dense(features, name=name,
                  kernel_init=nn.with_logical_partitioning(nn.initializers.normal(0.02), axes))


class BertLayer(nn.Module):
  """One transformer block: self-attention + GELU MLP, each followed by residual LayerNorm."""
  config: BertConfig

  @nn.compact
  def __call__(self, x_BxLxD, mask_BxL):
    c = self.config
    heads, d = c.num_attention_heads, c.hidden_size
    hd = d // heads
    b, l, _ = x_BxLxD.shape

    def split(t):
      return t.reshape(b, l, heads, hd)
    q = split(_dense(d, ("embed", "joined_kv"), "query")(x_BxLxD))
    k = split(_dense(d, ("embed", "joined_kv"), "key")(x_BxLxD))
    v = split(_dense(d, ("embed", "joined_kv"), "value")(x_BxLxD))
    logits_BxHxLxL = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(hd).astype(np.float32)
    big_neg = jnp.finfo(logits_BxHxLxL.dtype).min
    logits_BxHxLxL = jnp.where(mask_BxL[:, None, None, :], logits_BxHxLxL, big_neg)
    attn = jax.nn.softmax(logits_BxHxLxL, axis=-1)
    ctx_BxLxD = jnp.einsum("bhqk,bkhd->bqhd", attn, v).reshape(b, l, d)
    y = _dense(d, ("joined_kv", "embed"), "attn_out")(ctx_BxLxD)
    x_BxLxD = nn.LayerNorm(epsilon=c.layer_norm_eps, name="attn_ln")(x_BxLxD + y)
    h = _dense(c.intermediate_size, ("embed", "mlp"), "mlp_in")(x_BxLxD)
    h = jax.nn.gelu(h, approximate=False)
    y = _dense(d, ("mlp", "embed"), "mlp_out")(h)
    return nn.LayerNorm(epsilon=c.layer_norm_eps, name="mlp_ln")(x_BxLxD + y)


class BertEncoder(nn.Module):
  """Token ids [B, L] + attention mask [B, L] -> final hidden states [B, L, D]."""
  config: BertConfig

  @nn.compact
  def __call__(self, ids_BxL, mask_BxL, type_ids_BxL=None):
    c = self.config
    if type_ids_BxL is None:
      type_ids_BxL = jnp.zeros_like(ids_BxL)
    init = nn.with_logical_partitioning(nn.initializers.normal(0.02), ("vocab", "embed"))
    x = nn.Embed(c.vocab_size, c.hidden_size, embedding_init=init, name="word_embeddings")(ids_BxL)
    pos = nn.Embed(c.max_position_embeddings, c.hidden_size, name="position_embeddings")(
        jnp.arange(ids_BxL.shape[1])[None, :])
    typ = nn.Embed(c.type_vocab_size, c.hidden_size, name="token_type_embeddings")(type_ids_BxL)
    x = nn.LayerNorm(epsilon=c.layer_norm_eps, name="embeddings_ln")(x + pos + typ)
    mask_BxL = mask_BxL.astype(bool)
    for i in range(c.num_hidden_layers):
      x = BertLayer(c, name=f"layer_{i}")(x, mask_BxL)
    return x


def mean_pool(hidden_BxLxD, mask_BxL):
  """Mean of the hidden states over unmasked positions (sentence-transformers pooling)."""
  m = mask_BxL.astype(hidden_BxLxD.dtype)[..., None]
  return (hidden_BxLxD * m).sum(1) / jnp.maximum(m.sum(1), 1e-9)


def l2_normalize(x_NxD, eps: float = 1e-12):
  """Rows scaled to unit L2 norm (zero rows stay zero)."""
  return x_NxD / jnp.maximum(jnp.linalg.norm(x_NxD, axis=-1, keepdims=True), eps)


def params_from_hf(weights: Mapping[str, np.ndarray], config: BertConfig) -> dict:
  """Maps Hugging Face `BertModel` tensors (safetensors names) to BertEncoder params."""
  w = {k.removeprefix("bert."): v for k, v in weights.items()}

  def get(name):
    if name not in w:
      raise KeyError(f"weight {name!r} missing from checkpoint")
    return jnp.asarray(np.asarray(w[name], np.float32))

  def dense(prefix):  # torch Linear stores [out, in]; flax Dense wants [in, out].
    return {"kernel": get(prefix + ".weight").T, "bias": get(prefix + ".bias")}

  def ln(prefix):
    return {"scale": get(prefix + ".weight"), "bias": get(prefix + ".bias")}

  params = {
      "word_embeddings": {"embedding": get("embeddings.word_embeddings.weight")},
      "position_embeddings": {"embedding": get("embeddings.position_embeddings.weight")},
      "token_type_embeddings": {"embedding": get("embeddings.token_type_embeddings.weight")},
      "embeddings_ln": ln("embeddings.LayerNorm"),
  }
  for i in range(config.num_hidden_layers):
    p = f"encoder.layer.{i}."
    params[f"layer_{i}"] = {
        "query": dense(p + "attention.self.query"),
        "key": dense(p + "attention.self.key"),
        "value": dense(p + "attention.self.value"),
        "attn_out": dense(p + "attention.output.dense"),
        "attn_ln": ln(p + "attention.output.LayerNorm"),
        "mlp_in": dense(p + "intermediate.dense"),
        "mlp_out": dense(p + "output.dense"),
        "mlp_ln": ln(p + "output.LayerNorm"),
    }
  return {"params": params}
