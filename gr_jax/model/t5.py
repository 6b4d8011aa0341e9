"""T5 v1.1 encoder-decoder in Flax linen with logical axis names on every parameter.

The module mirrors `t5x.examples.t5.network.Transformer` (same parameter names,
call signatures and T5 v1.1 maths: RMSNorm, bucketed relative position biases,
gated-GELU MLP, unscaled attention with the 1/sqrt(d) folded into the query
initializer), so it trains under this project's partitioner and inside T5X.

Parameters carry logical axis names ('vocab', 'embed', 'heads', 'kv', 'mlp',
'relpos_buckets') through `nn.with_logical_partitioning` (boxed params), or,
with `T5Config.t5x_params_axes`, through the `params_axes` collection T5X
expects. Key activations get `nn.with_logical_constraint`.

Decoding cache (`decode=True`, collection 'cache'): every leaf has leading dim
= the decode batch. `decoder/decode_position` [B] int32 is the next position of
each row (T5X's beam search expands/gathers it like any other leaf, unlike a
scalar `cache_index`); each self-attention holds `cached_key`/`cached_value`
[B, heads, max_decode_length, head_dim]; a cross-attention may hold
precomputed `cached_key`/`cached_value` [B, heads, encoder_length, head_dim]
(head-major, the layout its matmuls read; written when
`cache_cross_attention=True`; otherwise it projects `encoded`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional, Sequence

import gin
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn
from flax.linen import partitioning as flax_partitioning

Array = jax.Array
Initializer = Callable[..., Array]
NEG_INF = -1.0e10

ACTIVATIONS = {
    "gelu": functools.partial(nn.gelu, approximate=True),  # T5 v1.1 / HF "gelu_new".
    "gelu_exact": functools.partial(nn.gelu, approximate=False),
    "relu": nn.relu,
    "silu": nn.silu,
    "linear": lambda x: x,
}


@gin.configurable(module="gr_jax.model")
@dataclasses.dataclass(frozen=True)
class T5Config:
  """Hyper-parameters of the encoder-decoder (T5X `T5Config` field names)."""
  vocab_size: Optional[int] = None  # None: taken from the vocabulary (rounded up to 128).
  emb_dim: int = 512
  num_heads: int = 8
  head_dim: int = 64
  mlp_dim: int = 1024
  num_encoder_layers: int = 6
  num_decoder_layers: int = 6
  mlp_activations: Sequence[str] = ("gelu", "linear")  # Gated GELU (T5 v1.1).
  dropout_rate: float = 0.1
  # Axes along which one dropout mask is shared: (-2,) = the same mask at every sequence
  # position (T5X); () = an independent mask per element (Hugging Face / PyTorch T5).
  dropout_broadcast_dims: Sequence[int] = (-2,)
  dtype: str = "float32"  # Activation dtype ('bfloat16' on TPU/GPU); params stay float32.
  logits_via_embedding: bool = False  # True: tied input/output embeddings (T5 1.0).
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  # Learned embeddings of each encoder token's distance from the end of its input (0 = last
  # token), clipped at `encoder_end_positions - 1`; 0 = off (T5: relative biases only). A
  # history input ends with its most recent item, and a bidirectional relative bias cannot
  # tell a token how far it is from the end, so this is the encoder's recency signal (the
  # role of SASRec's learned positions under its left padding). Not in T5 / Hugging Face.
  encoder_end_positions: int = 0
  float32_attention_logits: bool = True
  remat: bool = False  # Rematerialise each layer in the backward pass (saves memory).
  t5x_params_axes: bool = False  # Emit the 'params_axes' collection (T5X) instead of boxes.

  def __post_init__(self):
    object.__setattr__(self, "mlp_activations", tuple(self.mlp_activations))
    object.__setattr__(self, "dropout_broadcast_dims",
                       tuple(int(d) for d in self.dropout_broadcast_dims))
    for act in self.mlp_activations:
      if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(ACTIVATIONS)}")
    if self.encoder_end_positions < 0:
      raise ValueError(f"encoder_end_positions must be >= 0, got {self.encoder_end_positions}")
    if self.dtype not in ("float32", "bfloat16", "float16"):
      raise ValueError(f"dtype must be float32, bfloat16 or float16, got {self.dtype!r}")

  @property
  def jnp_dtype(self):
    return jnp.dtype(self.dtype)

  def to_dict(self) -> dict:
    d = dataclasses.asdict(self)
    d["mlp_activations"] = list(self.mlp_activations)
    d["dropout_broadcast_dims"] = list(self.dropout_broadcast_dims)
    return d

  @classmethod
  def from_dict(cls, d: dict) -> "T5Config":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


def _param(module: nn.Module, name: str, init_fn: Initializer, shape: Sequence[int],
           axes: Sequence[str]) -> Array:
  """A float32 parameter with logical axis names (boxed, or T5X 'params_axes')."""
  if module.config.t5x_params_axes:
    return flax_partitioning.param_with_axes(name, init_fn, tuple(shape), jnp.float32,
                                             axes=tuple(axes), module=module)
  return module.param(name, nn.with_logical_partitioning(init_fn, tuple(axes)), tuple(shape),
                      jnp.float32)


def _constrain(x: Array, axes: Sequence[Optional[str]]) -> Array:
  return nn.with_logical_constraint(x, tuple(axes))


def _flat_init(base: Initializer, fan_in_dims: int, scale: float = 1.0) -> Initializer:
  """Initializes an N-d kernel as a [prod(in), prod(out)] matrix (T5X convention)."""

  def init(rng, shape, dtype=jnp.float32):
    fan_in = int(np.prod(shape[:fan_in_dims]))
    flat = base(rng, (fan_in, int(np.prod(shape[fan_in_dims:]))), dtype)
    return (flat * scale).reshape(shape).astype(dtype)

  return init


_KERNEL_INIT = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _dense(x: Array, kernel: Array, num_in: int) -> Array:
  """x [..., *in] . kernel [*in, *out] over the last `num_in` axes of x -> [..., *out]."""
  lead = x.ndim - num_in
  return lax.dot_general(x, kernel, ((tuple(range(lead, x.ndim)), tuple(range(num_in))),
                                     ((), ())))


def _dense_fwd(x, kernel, num_in):
  return _dense(x, kernel, num_in), (x, kernel)


def _dense_bwd(num_in, res, g):
  """The autodiff gradients, laid out so that XLA:CPU transposes the smaller operand.

  The kernel gradient contracts the leading (batch, length) axes of x and g; the
  dot kernels want the left operand's contracted axes minor, so XLA:CPU copies that
  operand transposed (with its producer fused in). Contracting x . g gives
  [*in, *out] directly but transposes x; g . x then a transpose of the small
  [*out, *in] result transposes g instead. Picking the smaller of x and g saves a
  full copy of the wide activation: g (3x wider than x) in q/k/v and `wi`, x
  (8x wider than g) in `wo` and the attention output.
  """
  x, kernel = res
  lead = x.ndim - num_in
  out_g, out_k = tuple(range(lead, g.ndim)), tuple(range(num_in, kernel.ndim))
  dx = lax.dot_general(g, kernel, ((out_g, out_k), ((), ())))
  batch_axes = (tuple(range(lead)), tuple(range(lead)))
  if x.size <= g.size:
    dk = lax.dot_general(x, g, (batch_axes, ((), ())))
  else:
    num_out = g.ndim - lead
    dk_t = lax.dot_general(g, x, (batch_axes, ((), ())))  # [*out, *in]
    dk = jnp.transpose(dk_t, tuple(range(num_out, num_out + num_in)) + tuple(range(num_out)))
  return dx.astype(x.dtype), dk.astype(kernel.dtype)


_dense.defvjp(_dense_fwd, _dense_bwd)


class DenseGeneral(nn.Module):
  """Bias-free dense layer over one or more trailing axes with a named kernel."""
  config: T5Config
  features: int | Sequence[int]
  kernel_axes: Sequence[str]
  axis: int | Sequence[int] = -1
  init_scale: float = 1.0
  output_dtype: Optional[Any] = None

  @nn.compact
  def __call__(self, x: Array) -> Array:
    features = (self.features,) if isinstance(self.features, int) else tuple(self.features)
    axis = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
    axis = tuple(a % x.ndim for a in axis)
    kernel_shape = tuple(x.shape[a] for a in axis) + features
    kernel = _param(self, "kernel", _flat_init(_KERNEL_INIT, len(axis), self.init_scale),
                    kernel_shape, self.kernel_axes)
    dtype = self.output_dtype or self.config.jnp_dtype
    if axis == tuple(range(x.ndim - len(axis), x.ndim)):  # Trailing axes (every use here).
      return _dense(x.astype(dtype), kernel.astype(dtype), len(axis))
    contract = (axis, tuple(range(len(axis))))
    return lax.dot_general(x.astype(dtype), kernel.astype(dtype), (contract, ((), ())))


class Embed(nn.Module):
  """Token embedding table [vocab, embed]; `attend` gives tied output logits."""
  config: T5Config

  def setup(self):
    self.embedding = _param(self, "embedding", nn.initializers.normal(stddev=1.0),
                            (self.config.vocab_size, self.config.emb_dim), ("vocab", "embed"))

  def __call__(self, ids: Array) -> Array:
    return jnp.take(self.embedding, ids.astype(jnp.int32), axis=0).astype(self.config.jnp_dtype)

  def attend(self, x: Array) -> Array:
    dtype = self.config.jnp_dtype
    return jnp.einsum("...e,ve->...v", x.astype(dtype), self.embedding.astype(dtype))


class RMSNorm(nn.Module):
  """T5 layer norm: scale only, no mean subtraction, computed in float32."""
  config: T5Config
  epsilon: float = 1e-6

  @nn.compact
  def __call__(self, x: Array) -> Array:
    x32 = x.astype(jnp.float32)
    y = x32 * lax.rsqrt(jnp.mean(jnp.square(x32), axis=-1, keepdims=True) + self.epsilon)
    scale = _param(self, "scale", nn.initializers.ones, (x.shape[-1],), ("embed",))
    return (y * scale).astype(self.config.jnp_dtype)


def relative_position_bucket(relative_position: Array, bidirectional: bool = True,
                             num_buckets: int = 32, max_distance: int = 128) -> Array:
  """T5 bucket of (key position - query position): exact when small, log-spaced up to max_distance."""
  ret = jnp.zeros_like(relative_position, dtype=jnp.int32)
  n = -relative_position
  if bidirectional:
    num_buckets //= 2
    ret = ret + (n < 0).astype(jnp.int32) * num_buckets
    n = jnp.abs(n)
  else:
    n = jnp.maximum(n, 0)
  max_exact = num_buckets // 2
  is_small = n < max_exact
  n_safe = jnp.maximum(n, 1).astype(jnp.float32)
  large = max_exact + (jnp.log(n_safe / max_exact + np.finfo(np.float32).eps)
                       / np.log(max_distance / max_exact) * (num_buckets - max_exact)).astype(jnp.int32)
  large = jnp.minimum(large, num_buckets - 1)
  return ret + jnp.where(is_small, n, large).astype(jnp.int32)


class RelativePositionBias(nn.Module):
  """Per-head learned bias of bucketed relative positions, shared by all layers of a stack."""
  config: T5Config
  bidirectional: bool

  @nn.compact
  def __call__(self, q_pos: Array, k_pos: Array) -> Array:
    """q_pos [Q] or [B, Q], k_pos [K] -> bias [1 or B, heads, Q, K] (float32)."""
    cfg = self.config
    rel = k_pos[..., None, :] - q_pos[..., :, None]
    bucket = relative_position_bucket(rel, self.bidirectional, cfg.relative_attention_num_buckets,
                                      cfg.relative_attention_max_distance)
    table = _param(self, "rel_embedding",
                   nn.initializers.variance_scaling(1.0, "fan_avg", "uniform"),
                   (cfg.num_heads, cfg.relative_attention_num_buckets), ("heads", "relpos_buckets"))
    values = jnp.take(table, bucket, axis=1)  # [H, (B,) Q, K]
    if q_pos.ndim == 1:
      return values[None]
    return jnp.moveaxis(values, 0, 1)


@jax.custom_vjp
def _add_bias(logits: Array, bias: Array) -> Array:
  """logits + bias, bias broadcast over the leading (batch) axis or not."""
  return logits + bias


def _add_bias_fwd(logits, bias):
  return logits + bias, bias


def _add_bias_bwd(bias, g):
  """The bias gradient sums g over the batch as a ones-vector matmul: XLA:CPU's reduce
  over the leading axis of [batch, heads, q, k] was ~10% of a training step."""
  if bias.shape[0] == 1 and g.shape[0] > 1:
    ones = jnp.ones((g.shape[0],), g.dtype)
    db = lax.dot_general(ones, g.reshape(g.shape[0], -1), (((0,), (0,)), ((), ())),
                         precision=lax.Precision.HIGHEST).reshape((1,) + g.shape[1:])
  else:
    db = g
  other = tuple(a for a in range(1, g.ndim) if bias.shape[a] == 1 and g.shape[a] > 1)
  if other:
    db = jnp.sum(db, axis=other, keepdims=True)
  return g, db.astype(bias.dtype)


_add_bias.defvjp(_add_bias_fwd, _add_bias_bwd)


_HEADS_FIRST_AXES = ("batch", "heads", "length", "kv")


def _heads_first(x: Array) -> Array:
  """[b, len, h, d] -> [b, h, len, d]."""
  return jnp.transpose(x, (0, 2, 1, 3))


class MultiHeadAttention(nn.Module):
  """Multi-head dot-product attention with an optional autoregressive KV cache."""
  config: T5Config

  @nn.compact
  def __call__(self, inputs_q: Array, inputs_kv: Array, mask: Optional[Array] = None,
               bias: Optional[Array] = None, *, enable_dropout: bool = False, decode: bool = False,
               decode_position: Optional[Array] = None, max_decode_length: Optional[int] = None,
               cross: bool = False, cache_cross_attention: bool = False) -> Array:
    cfg = self.config
    proj = functools.partial(DenseGeneral, cfg, (cfg.num_heads, cfg.head_dim),
                             ("embed", "heads", "kv"))
    query = proj(init_scale=cfg.head_dim ** -0.5, name="query")(inputs_q)
    key_layer, value_layer = proj(name="key"), proj(name="value")
    qkv_axes = ("batch", "length", "heads", "kv")
    query = _constrain(query, qkv_axes)
    kv_heads_first = False
    if cross and decode and self.has_variable("cache", "cached_key"):
      # Stored head-major once per input, so decode steps read them without a transpose.
      key = _constrain(self.get_variable("cache", "cached_key"), _HEADS_FIRST_AXES)
      value = _constrain(self.get_variable("cache", "cached_value"), _HEADS_FIRST_AXES)
      kv_heads_first = True
    else:
      key, value = key_layer(inputs_kv), value_layer(inputs_kv)
      key, value = _constrain(key, qkv_axes), _constrain(value, qkv_axes)
      if cross and decode and cache_cross_attention:
        self.variable("cache", "cached_key", lambda: _heads_first(key))
        self.variable("cache", "cached_value", lambda: _heads_first(value))

    if decode and not cross:
      initialized = self.has_variable("cache", "cached_key")
      length = max_decode_length or key.shape[1]
      shape = (key.shape[0], key.shape[2], length, key.shape[3])  # Head-major, as read.
      cached_key = self.variable("cache", "cached_key", jnp.zeros, shape, key.dtype)
      cached_value = self.variable("cache", "cached_value", jnp.zeros, shape, value.dtype)
      if initialized:  # One step: write this token's key/value at each row's position.
        if key.shape[1] != 1:
          raise ValueError(f"cached decoding takes one token per call, got {key.shape[1]}")
        write = jax.vmap(lambda c, x, i: lax.dynamic_update_slice_in_dim(c, x, i, axis=1))
        cached_key.value = write(cached_key.value, _heads_first(key), decode_position)
        cached_value.value = write(cached_value.value, _heads_first(value), decode_position)
        key = _constrain(cached_key.value, _HEADS_FIRST_AXES)
        value = _constrain(cached_value.value, _HEADS_FIRST_AXES)
        kv_heads_first = True

    dropout = nn.Dropout(cfg.dropout_rate, broadcast_dims=cfg.dropout_broadcast_dims)
    out = self._attend(query, key, value, mask, bias,
                       lambda w: dropout(w, deterministic=not enable_dropout), kv_heads_first)
    out = _constrain(out, qkv_axes)
    out = DenseGeneral(cfg, cfg.emb_dim, ("heads", "kv", "embed"), axis=(-2, -1), name="out")(out)
    return _constrain(out, ("batch", "length", "embed"))

  def _attend(self, query, key, value, mask, bias, dropout, kv_heads_first: bool = False):
    """softmax(q.k + bias) v; a query batch that is a multiple g of the key batch
    (beams sharing one encoding, rows ordered user-major) attends group-wise.
    query [b, q, h, d]; key, value [b, k, h, d], or [b, h, k, d] with `kv_heads_first`."""
    cfg = self.config
    groups = query.shape[0] // key.shape[0]
    b_q, q_len = query.shape[:2]
    if groups != 1:
      if b_q != groups * key.shape[0]:
        raise ValueError(f"query batch {b_q} is not a multiple of key batch {key.shape[0]}")
      query = query.reshape((key.shape[0], groups * q_len) + query.shape[2:])
    logits_dtype = jnp.float32 if cfg.float32_attention_logits else cfg.jnp_dtype
    # Head-major [b, h, len, d] operands: batched matmuls over (b, h) with no strided
    # operand, about 2x faster than contracting the [b, len, h, d] layout on XLA:CPU
    # (which transposes inside each dot); bit-identical results.
    kv = lambda x, dtype: x.astype(dtype) if kv_heads_first else _heads_first(x.astype(dtype))
    logits = jnp.einsum("bhqd,bhkd->bhqk", _heads_first(query.astype(logits_dtype)),
                        kv(key, logits_dtype))
    if bias is not None:
      logits = _add_bias(logits, bias.astype(logits_dtype))
    if mask is not None:
      logits = jnp.where(mask, logits, jnp.asarray(NEG_INF, logits_dtype))
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(cfg.jnp_dtype)
    weights = dropout(weights)
    out = jnp.einsum("bhqk,bhkd->bhqd", weights, kv(value, cfg.jnp_dtype))
    out = jnp.transpose(out, (0, 2, 1, 3))
    return out.reshape((b_q, q_len) + out.shape[2:])


class MlpBlock(nn.Module):
  """Gated MLP: prod_i act_i(x W_i) then W_o (T5 v1.1 gated GELU by default)."""
  config: T5Config

  @nn.compact
  def __call__(self, x: Array, enable_dropout: bool = False) -> Array:
    cfg = self.config
    acts = cfg.mlp_activations
    h = None
    for i, act in enumerate(acts):
      name = f"wi_{i}" if len(acts) > 1 else "wi"
      y = ACTIVATIONS[act](DenseGeneral(cfg, cfg.mlp_dim, ("embed", "mlp"), name=name)(x))
      h = y if h is None else h * y
    h = nn.Dropout(cfg.dropout_rate, broadcast_dims=cfg.dropout_broadcast_dims)(
        h, deterministic=not enable_dropout)
    h = _constrain(h, ("batch", "length", "mlp"))
    return DenseGeneral(cfg, cfg.emb_dim, ("mlp", "embed"), name="wo")(h)


class EncoderLayer(nn.Module):
  """Pre-norm self-attention + MLP block."""
  config: T5Config

  @nn.compact
  def __call__(self, x: Array, mask: Array, bias: Array, enable_dropout: bool = False) -> Array:
    cfg = self.config
    drop = nn.Dropout(cfg.dropout_rate, broadcast_dims=cfg.dropout_broadcast_dims)
    y = RMSNorm(cfg, name="pre_attention_layer_norm")(x)
    y = MultiHeadAttention(cfg, name="attention")(y, y, mask, bias, enable_dropout=enable_dropout)
    x = x + drop(y, deterministic=not enable_dropout)
    y = RMSNorm(cfg, name="pre_mlp_layer_norm")(x)
    y = MlpBlock(cfg, name="mlp")(y, enable_dropout)
    x = x + drop(y, deterministic=not enable_dropout)
    return _constrain(x, ("batch", "length", "embed"))


class DecoderLayer(nn.Module):
  """Pre-norm causal self-attention + cross-attention + MLP block."""
  config: T5Config

  @nn.compact
  def __call__(self, x: Array, encoded: Array, decoder_mask: Optional[Array], bias: Array,
               encoder_decoder_mask: Optional[Array], enable_dropout: bool = False,
               decode: bool = False, decode_position: Optional[Array] = None,
               max_decode_length: Optional[int] = None,
               cache_cross_attention: bool = False) -> Array:
    cfg = self.config
    drop = nn.Dropout(cfg.dropout_rate, broadcast_dims=cfg.dropout_broadcast_dims)
    y = RMSNorm(cfg, name="pre_self_attention_layer_norm")(x)
    y = MultiHeadAttention(cfg, name="self_attention")(
        y, y, decoder_mask, bias, enable_dropout=enable_dropout, decode=decode,
        decode_position=decode_position, max_decode_length=max_decode_length)
    x = x + drop(y, deterministic=not enable_dropout)
    y = RMSNorm(cfg, name="pre_cross_attention_layer_norm")(x)
    y = MultiHeadAttention(cfg, name="encoder_decoder_attention")(
        y, encoded, encoder_decoder_mask, None, enable_dropout=enable_dropout, decode=decode,
        cross=True, cache_cross_attention=cache_cross_attention)
    x = x + drop(y, deterministic=not enable_dropout)
    y = RMSNorm(cfg, name="pre_mlp_layer_norm")(x)
    y = MlpBlock(cfg, name="mlp")(y, enable_dropout)
    x = x + drop(y, deterministic=not enable_dropout)
    return _constrain(x, ("batch", "length", "embed"))


def _layer_cls(cls, config: T5Config, static_argnums: Sequence[int]):
  return nn.remat(cls, static_argnums=tuple(static_argnums)) if config.remat else cls


def positions_from_end(tokens: Array, segment_ids: Optional[Array] = None) -> Array:
  """[B, L] int32: how many non-pad tokens of the same input (segment) follow each token.

  The last token of an input is 0, the one before it 1, ...; pads get 0 (they are masked).
  With packing (`segment_ids`), each packed input counts to its own end.
  """
  ok = (tokens > 0).astype(jnp.int32)
  if segment_ids is None:
    return jnp.flip(jnp.cumsum(jnp.flip(ok, 1), 1), 1) - ok
  idx = jnp.arange(tokens.shape[1])
  later = (idx[None, :] > idx[:, None])[None]  # [1, i, j]: j after i.
  same = segment_ids[:, None, :] == segment_ids[:, :, None]
  return jnp.sum(later & same & (ok[:, None, :] > 0), axis=-1).astype(jnp.int32) * ok


class Encoder(nn.Module):
  """Embedding (+ optional end-position embedding) -> layers -> final RMSNorm."""
  config: T5Config
  shared_embedding: nn.Module

  @nn.compact
  def __call__(self, tokens: Array, mask: Array, enable_dropout: bool = False,
               segment_ids: Optional[Array] = None) -> Array:
    cfg = self.config
    drop = nn.Dropout(cfg.dropout_rate, broadcast_dims=cfg.dropout_broadcast_dims)
    x = self.shared_embedding(tokens)
    if cfg.encoder_end_positions:
      table = _param(self, "end_position_embedding", nn.initializers.normal(stddev=1.0),
                     (cfg.encoder_end_positions, cfg.emb_dim), ("abspos_buckets", "embed"))
      end_pos = jnp.minimum(positions_from_end(tokens, segment_ids),
                            cfg.encoder_end_positions - 1)
      x = x + jnp.take(table, end_pos, axis=0).astype(x.dtype)
    x = drop(x, deterministic=not enable_dropout)
    x = _constrain(x, ("batch", "length", "embed"))
    pos = jnp.arange(tokens.shape[1])
    bias = RelativePositionBias(cfg, bidirectional=True, name="relpos_bias")(pos, pos)
    layer = _layer_cls(EncoderLayer, cfg, static_argnums=(4,))
    for i in range(cfg.num_encoder_layers):
      x = layer(cfg, name=f"layers_{i}")(x, mask, bias, enable_dropout)
    x = RMSNorm(cfg, name="encoder_norm")(x)
    return drop(x, deterministic=not enable_dropout)


class Decoder(nn.Module):
  """Embedding -> causal layers -> final RMSNorm -> float32 logits (tied or untied)."""
  config: T5Config
  shared_embedding: nn.Module

  @nn.compact
  def __call__(self, encoded: Array, tokens: Array, decoder_mask: Optional[Array],
               encoder_decoder_mask: Optional[Array], enable_dropout: bool = False,
               decode: bool = False, max_decode_length: Optional[int] = None,
               cache_cross_attention: bool = False) -> Array:
    cfg = self.config
    relpos = RelativePositionBias(cfg, bidirectional=False, name="relpos_bias")
    position = None
    step = False
    if decode:
      step = self.has_variable("cache", "decode_position")
      pos_var = self.variable("cache", "decode_position", jnp.zeros, (tokens.shape[0],), jnp.int32)
      if step:  # One token per row at position pos_var.value.
        position = pos_var.value
    if step:
      k_len = max_decode_length or self.variables["cache"]["layers_0"]["self_attention"][
          "cached_key"].shape[2]
      k_pos = jnp.arange(k_len)
      bias = relpos(position[:, None], k_pos)  # [B, H, 1, K]
      decoder_mask = (k_pos[None, :] <= position[:, None])[:, None, None, :]
    else:
      pos = jnp.arange(tokens.shape[1])
      bias = relpos(pos, pos)
      if decode:  # Cache initialisation pass: plain causal attention.
        decoder_mask = make_causal_mask(tokens)
    drop = nn.Dropout(cfg.dropout_rate, broadcast_dims=cfg.dropout_broadcast_dims)
    y = drop(self.shared_embedding(tokens), deterministic=not enable_dropout)
    y = _constrain(y, ("batch", "length", "embed"))
    layer = _layer_cls(DecoderLayer, cfg, static_argnums=(6, 7, 9, 10))
    for i in range(cfg.num_decoder_layers):
      y = layer(cfg, name=f"layers_{i}")(
          y, encoded, decoder_mask, bias, encoder_decoder_mask, enable_dropout, decode, position,
          max_decode_length, cache_cross_attention)
    y = RMSNorm(cfg, name="decoder_norm")(y)
    y = drop(y, deterministic=not enable_dropout)
    if cfg.logits_via_embedding:
      logits = self.shared_embedding.attend(y).astype(jnp.float32) / np.sqrt(cfg.emb_dim)
    else:
      logits = DenseGeneral(cfg, cfg.vocab_size, ("embed", "vocab"), output_dtype=jnp.float32,
                            name="logits_dense")(y)
    if step:
      pos_var.value = position + 1
    return _constrain(logits.astype(jnp.float32), ("batch", "length", "vocab"))


def make_attention_mask(query_ok: Array, key_ok: Array, query_segments: Optional[Array] = None,
                        key_segments: Optional[Array] = None) -> Array:
  """[B, 1, Q, K] bool: both positions valid (and in the same packed segment)."""
  mask = query_ok[:, :, None] & key_ok[:, None, :]
  if query_segments is not None:
    mask = mask & (query_segments[:, :, None] == key_segments[:, None, :])
  return mask[:, None]


def make_causal_mask(tokens: Array) -> Array:
  """[1, 1, T, T] lower-triangular mask."""
  t = tokens.shape[-1]
  return jnp.tril(jnp.ones((t, t), bool))[None, None]


def make_decoder_mask(decoder_target_tokens: Array,
                      decoder_segment_ids: Optional[Array] = None) -> Array:
  """Causal mask restricted to non-padding targets (and same segment when packed)."""
  ok = decoder_target_tokens > 0
  return make_causal_mask(decoder_target_tokens) & make_attention_mask(
      ok, ok, decoder_segment_ids, decoder_segment_ids)


class Transformer(nn.Module):
  """T5 encoder-decoder with T5X-compatible `__call__`, `encode` and `decode`."""
  config: T5Config

  def setup(self):
    if not self.config.vocab_size:
      raise ValueError("T5Config.vocab_size is not set")
    self.token_embedder = Embed(self.config)
    self.encoder = Encoder(self.config, shared_embedding=self.token_embedder)
    self.decoder = Decoder(self.config, shared_embedding=self.token_embedder)

  def encode(self, encoder_input_tokens: Array, encoder_segment_ids: Optional[Array] = None,
             enable_dropout: bool = True) -> Array:
    """[B, L] tokens (0 = pad) -> encoded [B, L, emb_dim]."""
    ok = encoder_input_tokens > 0
    mask = make_attention_mask(ok, ok, encoder_segment_ids, encoder_segment_ids)
    return self.encoder(encoder_input_tokens, mask, enable_dropout, encoder_segment_ids)

  def decode(self, encoded: Array, encoder_input_tokens: Array, decoder_input_tokens: Array,
             decoder_target_tokens: Array, encoder_segment_ids: Optional[Array] = None,
             decoder_segment_ids: Optional[Array] = None,
             decoder_positions: Optional[Array] = None, enable_dropout: bool = True,
             decode: bool = False, max_decode_length: Optional[int] = None,
             cache_cross_attention: bool = False) -> Array:
    """Decoder logits [B, T, vocab] (float32).

    With `decode=True` the first call (no 'cache' yet) creates the cache
    (self-attention length `max_decode_length` or T); later calls take one
    token per row [B, 1] and advance `decode_position`.
    """
    del decoder_positions  # Relative attention needs no absolute positions.
    if decode:
      decoder_mask = None
      # [B_enc, 1, 1, L]: also fits B_enc * beams decoder rows (grouped cross-attention).
      encoder_decoder_mask = (encoder_input_tokens > 0)[:, None, None, :]
    else:
      decoder_mask = make_decoder_mask(decoder_target_tokens, decoder_segment_ids)
      encoder_decoder_mask = make_attention_mask(
          decoder_target_tokens > 0, encoder_input_tokens > 0, decoder_segment_ids,
          encoder_segment_ids)
    return self.decoder(encoded, decoder_input_tokens, decoder_mask, encoder_decoder_mask,
                        enable_dropout, decode, max_decode_length, cache_cross_attention)

  def __call__(self, encoder_input_tokens: Array, decoder_input_tokens: Array,
               decoder_target_tokens: Array, encoder_segment_ids: Optional[Array] = None,
               decoder_segment_ids: Optional[Array] = None,
               encoder_positions: Optional[Array] = None,
               decoder_positions: Optional[Array] = None, *, enable_dropout: bool = True,
               decode: bool = False, max_decode_length: Optional[int] = None) -> Array:
    """Teacher-forced logits [B, T, vocab] (float32)."""
    del encoder_positions
    encoded = self.encode(encoder_input_tokens, encoder_segment_ids, enable_dropout)
    return self.decode(encoded, encoder_input_tokens, decoder_input_tokens, decoder_target_tokens,
                       encoder_segment_ids, decoder_segment_ids, decoder_positions,
                       enable_dropout=enable_dropout, decode=decode,
                       max_decode_length=max_decode_length)
