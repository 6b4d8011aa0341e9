"""gr_jax T5 parameters <-> Hugging Face `T5ForConditionalGeneration` weights (baselines, parity).

`hf_state_dict` / `to_hf_model` go gr_jax -> HF, `params_from_hf_state_dict` /
`from_hf_model` go back; a round trip is exact (float32 copies, transposes only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gr_jax.model import t5


def hf_config_kwargs(config: t5.T5Config) -> dict:
  """`transformers.T5Config` kwargs describing the same network."""
  if tuple(config.mlp_activations) != ("gelu", "linear"):
    raise ValueError(f"only gated-gelu T5 maps to HF, got {config.mlp_activations}")
  if config.encoder_end_positions:
    raise ValueError("encoder_end_positions has no Hugging Face T5 counterpart; set it to 0")
  return dict(vocab_size=config.vocab_size, d_model=config.emb_dim, d_kv=config.head_dim,
              d_ff=config.mlp_dim, num_layers=config.num_encoder_layers,
              num_decoder_layers=config.num_decoder_layers, num_heads=config.num_heads,
              relative_attention_num_buckets=config.relative_attention_num_buckets,
              relative_attention_max_distance=config.relative_attention_max_distance,
              dropout_rate=config.dropout_rate, layer_norm_epsilon=1e-6,
              feed_forward_proj="gated-gelu", tie_word_embeddings=config.logits_via_embedding,
              decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)


def _attn(prefix: str, p: dict, out: dict) -> None:
  e, h, d = np.asarray(p["query"]["kernel"]).shape
  for ours, theirs in (("query", "q"), ("key", "k"), ("value", "v")):
    out[f"{prefix}.{theirs}.weight"] = np.asarray(p[ours]["kernel"]).reshape(e, h * d).T
  out[f"{prefix}.o.weight"] = np.asarray(p["out"]["kernel"]).reshape(h * d, e).T


def _mlp(prefix: str, p: dict, out: dict) -> None:
  out[f"{prefix}.wi_0.weight"] = np.asarray(p["wi_0"]["kernel"]).T
  out[f"{prefix}.wi_1.weight"] = np.asarray(p["wi_1"]["kernel"]).T
  out[f"{prefix}.wo.weight"] = np.asarray(p["wo"]["kernel"]).T


def hf_state_dict(params: Any, config: t5.T5Config) -> dict[str, np.ndarray]:
  """HF T5 v1.1 state dict (numpy float32) holding the same weights as `params` (unboxed)."""
  enc, dec = params["encoder"], params["decoder"]
  out = {"shared.weight": np.asarray(params["token_embedder"]["embedding"])}
  out["encoder.embed_tokens.weight"] = out["shared.weight"]
  out["decoder.embed_tokens.weight"] = out["shared.weight"]
  for i in range(config.num_encoder_layers):
    p, pre = enc[f"layers_{i}"], f"encoder.block.{i}.layer"
    _attn(f"{pre}.0.SelfAttention", p["attention"], out)
    out[f"{pre}.0.layer_norm.weight"] = np.asarray(p["pre_attention_layer_norm"]["scale"])
    _mlp(f"{pre}.1.DenseReluDense", p["mlp"], out)
    out[f"{pre}.1.layer_norm.weight"] = np.asarray(p["pre_mlp_layer_norm"]["scale"])
  out["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = np.asarray(
      enc["relpos_bias"]["rel_embedding"]).T
  out["encoder.final_layer_norm.weight"] = np.asarray(enc["encoder_norm"]["scale"])
  for i in range(config.num_decoder_layers):
    p, pre = dec[f"layers_{i}"], f"decoder.block.{i}.layer"
    _attn(f"{pre}.0.SelfAttention", p["self_attention"], out)
    out[f"{pre}.0.layer_norm.weight"] = np.asarray(p["pre_self_attention_layer_norm"]["scale"])
    _attn(f"{pre}.1.EncDecAttention", p["encoder_decoder_attention"], out)
    out[f"{pre}.1.layer_norm.weight"] = np.asarray(p["pre_cross_attention_layer_norm"]["scale"])
    _mlp(f"{pre}.2.DenseReluDense", p["mlp"], out)
    out[f"{pre}.2.layer_norm.weight"] = np.asarray(p["pre_mlp_layer_norm"]["scale"])
  out["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = np.asarray(
      dec["relpos_bias"]["rel_embedding"]).T
  out["decoder.final_layer_norm.weight"] = np.asarray(dec["decoder_norm"]["scale"])
  out["lm_head.weight"] = (out["shared.weight"] if config.logits_via_embedding
                           else np.asarray(dec["logits_dense"]["kernel"]).T)
  return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def to_hf_model(params: Any, config: t5.T5Config):
  """A torch `T5ForConditionalGeneration` (eval mode) with the weights of `params`."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top

  model = transformers.T5ForConditionalGeneration(transformers.T5Config(**hf_config_kwargs(config)))
  state = {k: torch.from_numpy(v.copy()) for k, v in hf_state_dict(params, config).items()}
  lm_head = state.pop("lm_head.weight")
  missing, unexpected = model.load_state_dict(state, strict=False)
  missing = [m for m in missing if not m.endswith(("embed_tokens.weight", "lm_head.weight"))]
  if missing or unexpected:
    raise ValueError(f"HF T5 state dict mismatch: missing {missing}, unexpected {unexpected}")
  if not config.logits_via_embedding:
    # transformers >= 5 always ties lm_head to the input embedding; T5 v1.1 does not.
    model.lm_head = torch.nn.Linear(config.emb_dim, config.vocab_size, bias=False)
    model.lm_head.weight = torch.nn.Parameter(lm_head)
  return model.eval()


def _hf_attn(prefix: str, sd: dict, heads: int, head_dim: int) -> dict:
  out = {}
  for ours, theirs in (("query", "q"), ("key", "k"), ("value", "v")):
    w = sd[f"{prefix}.{theirs}.weight"]  # [heads * head_dim, emb]
    out[ours] = {"kernel": w.T.reshape(w.shape[1], heads, head_dim)}
  w = sd[f"{prefix}.o.weight"]  # [emb, heads * head_dim]
  out["out"] = {"kernel": w.T.reshape(heads, head_dim, w.shape[0])}
  return out


def _hf_mlp(prefix: str, sd: dict) -> dict:
  return {name: {"kernel": sd[f"{prefix}.{name}.weight"].T} for name in ("wi_0", "wi_1", "wo")}


def _scale(sd: dict, name: str) -> dict:
  return {"scale": sd[name]}


class _StateDict(dict):
  """A state dict whose missing keys raise a KeyError naming the weight."""

  def __missing__(self, name):
    raise KeyError(f"HF T5 state dict has no {name!r}")


def params_from_hf_state_dict(state_dict: dict, config: t5.T5Config) -> dict:
  """gr_jax T5 params (nested dict of numpy float32) from an HF T5 v1.1 state dict.

  `state_dict` values may be torch tensors or arrays; a missing weight raises a
  KeyError naming it.
  """
  sd = _StateDict()
  for k, v in state_dict.items():
    v = v.detach().cpu().numpy() if hasattr(v, "detach") else v
    sd[k] = np.asarray(v, np.float32)
  h, d = config.num_heads, config.head_dim
  enc, dec = {}, {}
  for i in range(config.num_encoder_layers):
    pre = f"encoder.block.{i}.layer"
    enc[f"layers_{i}"] = {
        "attention": _hf_attn(f"{pre}.0.SelfAttention", sd, h, d),
        "pre_attention_layer_norm": _scale(sd, f"{pre}.0.layer_norm.weight"),
        "mlp": _hf_mlp(f"{pre}.1.DenseReluDense", sd),
        "pre_mlp_layer_norm": _scale(sd, f"{pre}.1.layer_norm.weight")}
  enc["relpos_bias"] = {"rel_embedding": sd[
      "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"].T}
  enc["encoder_norm"] = _scale(sd, "encoder.final_layer_norm.weight")
  for i in range(config.num_decoder_layers):
    pre = f"decoder.block.{i}.layer"
    dec[f"layers_{i}"] = {
        "self_attention": _hf_attn(f"{pre}.0.SelfAttention", sd, h, d),
        "pre_self_attention_layer_norm": _scale(sd, f"{pre}.0.layer_norm.weight"),
        "encoder_decoder_attention": _hf_attn(f"{pre}.1.EncDecAttention", sd, h, d),
        "pre_cross_attention_layer_norm": _scale(sd, f"{pre}.1.layer_norm.weight"),
        "mlp": _hf_mlp(f"{pre}.2.DenseReluDense", sd),
        "pre_mlp_layer_norm": _scale(sd, f"{pre}.2.layer_norm.weight")}
  dec["relpos_bias"] = {"rel_embedding": sd[
      "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"].T}
  dec["decoder_norm"] = _scale(sd, "decoder.final_layer_norm.weight")
  if not config.logits_via_embedding:
    dec["logits_dense"] = {"kernel": sd["lm_head.weight"].T}
  params = {"token_embedder": {"embedding": sd["shared.weight"]}, "encoder": enc, "decoder": dec}
  return _contiguous(params)


def _contiguous(tree):
  if isinstance(tree, dict):
    return {k: _contiguous(v) for k, v in tree.items()}
  return np.ascontiguousarray(tree, dtype=np.float32)


def from_hf_model(model, config: t5.T5Config) -> dict:
  """gr_jax params holding the current weights of a torch `T5ForConditionalGeneration`."""
  state = dict(model.state_dict())
  if not config.logits_via_embedding:
    state["lm_head.weight"] = model.lm_head.weight
  return params_from_hf_state_dict(state, config)
