"""EncoderDecoderModel: T5 loss, teacher-forced scoring and cached `tokens_to_logits` for decoders.

Batches follow `seqio.EncDecFeatureConverter`: `encoder_input_tokens` [B, L],
`decoder_input_tokens` / `decoder_target_tokens` / `decoder_loss_weights` [B, T]
(0 = padding), plus `encoder_segment_ids` / `decoder_segment_ids` when packed.
MACRec batches may add `align_text_tokens` / `align_image_tokens` [N, S]: the
text-SID and image-SID token ids (+ eos, 0-padded) of N distinct items.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import flax
from flax import traverse_util
import flax.linen as nn
import gin
import jax
from jax import lax
import jax.numpy as jnp

from gr_jax.model import alignment
from gr_jax.model import t5

Batch = Mapping[str, jax.Array]
PyTree = Any
# tokens_to_logits(decoding_state_tokens_Bx1 int32, cache) -> (logits_BxV float32, new_cache).
TokensToLogits = Callable[[jax.Array, PyTree], tuple[jax.Array, PyTree]]


LABEL_SMOOTHING_STYLES = ("t5x", "uniform")


def cross_entropy(logits_BxTxV: jax.Array, targets_BxT: jax.Array, z_loss: float = 0.0,
                  label_smoothing: float = 0.0,
                  label_smoothing_style: str = "t5x") -> tuple[jax.Array, jax.Array]:
  """Per-token (loss including z-loss, z-loss) [B, T], float32, unweighted.

  With label smoothing ls and style "t5x" the target distribution is 1 - ls on
  the target and ls / (V - 1) elsewhere, minus its entropy (so a perfect model
  scores 0), as in T5X `cross_entropy_with_logits`; with "uniform" it is
  (1 - ls) * CE + ls * mean_v(-log p_v), as `torch.nn.CrossEntropyLoss(label_smoothing=ls)`
  and the Hugging Face Trainer's `label_smoothing_factor` compute it.
  """
  if label_smoothing_style not in LABEL_SMOOTHING_STYLES:
    raise ValueError(f"label_smoothing_style {label_smoothing_style!r}: expected one of "
                     f"{LABEL_SMOOTHING_STYLES}")
  logits = logits_BxTxV.astype(jnp.float32)
  lse = jax.nn.logsumexp(logits, axis=-1)
  target_logit = jnp.take_along_axis(logits, targets_BxT[..., None].astype(jnp.int32), -1)[..., 0]
  if label_smoothing and label_smoothing_style == "uniform":
    v = logits.shape[-1]
    sum_logp = jnp.sum(logits, axis=-1) - v * lse
    loss = -(1.0 - label_smoothing) * (target_logit - lse) - label_smoothing * sum_logp / v
  elif label_smoothing:
    v = logits.shape[-1]
    conf, low = 1.0 - label_smoothing, label_smoothing / (v - 1)
    entropy = -(conf * jnp.log(conf) + (v - 1) * low * jnp.log(low + 1e-20))
    sum_logp = jnp.sum(logits, axis=-1) - v * lse
    target_logp = target_logit - lse
    loss = -(conf * target_logp + low * (sum_logp - target_logp)) - entropy
  else:
    loss = lse - target_logit
  zl = z_loss * jnp.square(lse)
  return loss + zl, zl


def _weights(batch: Batch) -> jax.Array:
  if "decoder_loss_weights" in batch:
    return batch["decoder_loss_weights"].astype(jnp.float32)
  return (batch["decoder_target_tokens"] > 0).astype(jnp.float32)


LOSS_NORMALIZATIONS = ("tokens", "per_sequence")


def per_sequence_weights(weights_BxT: jax.Array,
                         segment_ids_BxT: Optional[jax.Array] = None) -> jax.Array:
  """Token weights rescaled so every target sequence sums to 1 (T5X AVERAGE_PER_SEQUENCE).

  A sequence is a row, or with packing one `decoder_segment_ids` segment of a row.
  Summing token losses times these weights and dividing by their sum (the number of
  sequences) averages each example's mean token loss, so a 4-token SID target
  counts as much as a 30-token title in a multitask mixture.
  """
  b, t = weights_BxT.shape
  if segment_ids_BxT is None:
    segment_ids_BxT = (weights_BxT > 0).astype(jnp.int32)
  ids = segment_ids_BxT.astype(jnp.int32) + jnp.arange(b, dtype=jnp.int32)[:, None] * (t + 1)
  totals = jax.ops.segment_sum(weights_BxT.reshape(-1), ids.reshape(-1),
                               num_segments=b * (t + 1))
  per_token_total = totals[ids]
  return jnp.where(per_token_total > 0, weights_BxT / jnp.maximum(per_token_total, 1e-9), 0.0)


def _split_cross_cache(cache: PyTree) -> tuple[dict, dict]:
  """Splits a decode cache into (cross-attention K/V, everything else) flat dicts."""
  flat = traverse_util.flatten_dict(flax.core.unfreeze(cache))
  cross = {k: v for k, v in flat.items() if "encoder_decoder_attention" in k}
  rest = {k: v for k, v in flat.items() if "encoder_decoder_attention" not in k}
  return cross, rest


@gin.configurable(module="gr_jax.model")
class EncoderDecoderModel:
  """A `t5.Transformer` plus its training loss, scoring and decoding entry points.

  Args:
    config: network hyper-parameters (vocab_size must be set).
    z_loss: weight of log(Z)^2 per token (T5X default 1e-4).
    label_smoothing: mass spread uniformly over non-target tokens.
    label_smoothing_style: "t5x" (ls / (V - 1) on each other token, entropy
      subtracted) or "uniform" (ls / V on every token, PyTorch / Hugging Face).
    loss_normalization: "tokens" averages the loss over all target tokens of the
      batch (T5X NUM_REAL_TARGET_TOKENS); "per_sequence" averages each example's
      mean token loss (T5X AVERAGE_PER_SEQUENCE), so short SID targets are not
      drowned by long text targets in a multitask mixture.
    alignment_weight: lambda of the MACRec implicit alignment loss (0 = off;
      MACRec uses 0.01). Applied when a batch carries `align_*_tokens`.
    alignment_temperature: InfoNCE tau (MACRec: 0.1).
    alignment_normalize: cosine (True) or raw inner-product (False) similarity.
    decoder_start_id: first decoder input token (T5: 0 = pad).
    eos_id: end-of-sequence id (T5: 1).
    input_vocabulary / output_vocabulary: seqio vocabularies (optional, for callers).
  """

  def __init__(self, config: t5.T5Config, z_loss: float = 1e-4, label_smoothing: float = 0.0,
               loss_normalization: str = "tokens", alignment_weight: float = 0.0,
               alignment_temperature: float = alignment.DEFAULT_TEMPERATURE,
               alignment_normalize: bool = True, decoder_start_id: int = 0, eos_id: int = 1,
               input_vocabulary=None, output_vocabulary=None,
               label_smoothing_style: str = "t5x"):
    self.config = config
    self.module = t5.Transformer(config)
    self.z_loss = float(z_loss)
    self.label_smoothing = float(label_smoothing)
    if label_smoothing_style not in LABEL_SMOOTHING_STYLES:
      raise ValueError(f"label_smoothing_style {label_smoothing_style!r}: expected one of "
                       f"{LABEL_SMOOTHING_STYLES}")
    self.label_smoothing_style = label_smoothing_style
    if loss_normalization not in LOSS_NORMALIZATIONS:
      raise ValueError(f"loss_normalization {loss_normalization!r}: expected one of "
                       f"{LOSS_NORMALIZATIONS}")
    self.loss_normalization = loss_normalization
    self.alignment_weight = float(alignment_weight)
    self.alignment_temperature = float(alignment_temperature)
    self.alignment_normalize = bool(alignment_normalize)
    self.decoder_start_id = int(decoder_start_id)
    self.eos_id = int(eos_id)
    self.input_vocabulary = input_vocabulary
    self.output_vocabulary = output_vocabulary

  def hparams(self) -> dict:
    """Constructor arguments other than config and vocabularies (JSON-able)."""
    return {"z_loss": self.z_loss, "label_smoothing": self.label_smoothing,
            "label_smoothing_style": self.label_smoothing_style,
            "loss_normalization": self.loss_normalization,
            "alignment_weight": self.alignment_weight,
            "alignment_temperature": self.alignment_temperature,
            "alignment_normalize": self.alignment_normalize,
            "decoder_start_id": self.decoder_start_id, "eos_id": self.eos_id}

  # ---- parameters -------------------------------------------------------------------------
  def init_boxed_params(self, rng: jax.Array, encoder_length: int = 8,
                        decoder_length: int = 4) -> PyTree:
    """Parameters with `nn.LogicallyPartitioned` boxes (logical axis names) from `module.init`."""
    enc = jnp.ones((1, encoder_length), jnp.int32)
    dec = jnp.ones((1, decoder_length), jnp.int32)
    return self.module.init(rng, enc, dec, dec, enable_dropout=False)["params"]

  def init_params(self, rng: jax.Array, encoder_length: int = 8, decoder_length: int = 4) -> PyTree:
    """Plain (unboxed) float32 parameters on the default device."""
    return nn.meta.unbox(self.init_boxed_params(rng, encoder_length, decoder_length))

  # ---- training ---------------------------------------------------------------------------
  def compute_logits(self, params: PyTree, batch: Batch,
                     dropout_rng: Optional[jax.Array] = None) -> jax.Array:
    """Teacher-forced logits [B, T, V] (dropout on iff `dropout_rng` is given)."""
    rngs = {"dropout": dropout_rng} if dropout_rng is not None else None
    return self.module.apply(
        {"params": params}, batch["encoder_input_tokens"], batch["decoder_input_tokens"],
        batch["decoder_target_tokens"], encoder_segment_ids=batch.get("encoder_segment_ids"),
        decoder_segment_ids=batch.get("decoder_segment_ids"),
        enable_dropout=dropout_rng is not None, rngs=rngs)

  def alignment_loss(self, params: PyTree, text_tokens_NxS: jax.Array, image_tokens_NxS: jax.Array,
                     dropout_rng: Optional[jax.Array] = None) -> jax.Array:
    """MACRec implicit alignment loss (L_t->v + L_v->t) of N items' SID token sequences."""
    rngs = {"dropout": dropout_rng} if dropout_rng is not None else None

    def encode(tokens):
      return self.module.apply({"params": params}, tokens, enable_dropout=dropout_rng is not None,
                               rngs=rngs, method=self.module.encode)

    return alignment.implicit_alignment_loss(encode, text_tokens_NxS, image_tokens_NxS,
                                             self.alignment_temperature, self.alignment_normalize)

  def loss_fn(self, params: PyTree, batch: Batch,
              dropout_rng: Optional[jax.Array]) -> tuple[jax.Array, dict]:
    """(scalar loss, metrics) for `jax.value_and_grad(..., has_aux=True)`.

    loss = sum_t w_t * (CE_t + z_loss * logZ_t^2) / sum_t w_t
           [+ alignment_weight * L_implicit when the batch has align_* tokens],
    with w_t the target-token weights, or with loss_normalization="per_sequence"
    those weights divided by their sequence's sum. Metrics stay token averages.
    """
    rng_main = rng_align = None
    if dropout_rng is not None:
      rng_main, rng_align = jax.random.split(dropout_rng)
    logits = self.compute_logits(params, batch, rng_main)
    targets = batch["decoder_target_tokens"]
    weights = _weights(batch)
    token_loss, token_z = cross_entropy(logits, targets, self.z_loss, self.label_smoothing,
                                        self.label_smoothing_style)
    num_tokens = jnp.sum(weights)
    denom = jnp.maximum(num_tokens, 1.0)
    if self.loss_normalization == "per_sequence":
      seq_weights = per_sequence_weights(weights, batch.get("decoder_segment_ids"))
      loss = jnp.sum(token_loss * seq_weights) / jnp.maximum(jnp.sum(seq_weights), 1.0)
    else:
      loss = jnp.sum(token_loss * weights) / denom
    correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32) * weights
    metrics = {"cross_entropy": jnp.sum((token_loss - token_z) * weights) / denom,
               "z_loss": jnp.sum(token_z * weights) / denom,
               "accuracy": jnp.sum(correct) / denom, "num_tokens": num_tokens}
    if self.alignment_weight and "align_text_tokens" in batch:
      align = self.alignment_loss(params, batch["align_text_tokens"], batch["align_image_tokens"],
                                  rng_align)
      loss = loss + self.alignment_weight * align
      metrics["alignment_loss"] = align
    metrics["loss"] = loss
    return loss, metrics

  def eval_sums(self, params: PyTree, batch: Batch) -> dict:
    """Summed (not averaged) eval statistics, so batches and hosts can be aggregated exactly."""
    logits = self.compute_logits(params, batch)
    targets = batch["decoder_target_tokens"]
    weights = _weights(batch)
    token_loss, token_z = cross_entropy(logits, targets)
    correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32) * weights
    del token_z
    return {"loss_sum": jnp.sum(token_loss * weights), "weight_sum": jnp.sum(weights),
            "correct_sum": jnp.sum(correct),
            "sequences_correct": jnp.sum(jnp.all((correct > 0) | (weights == 0), axis=-1)
                                         & (jnp.sum(weights, -1) > 0)),
            "num_sequences": jnp.sum(jnp.sum(weights, -1) > 0)}

  def score_batch(self, params: PyTree, batch: Batch) -> jax.Array:
    """[B] sum over target tokens of log p(target_t | inputs, targets_<t) (teacher forcing)."""
    logits = self.compute_logits(params, batch)
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    targets = batch["decoder_target_tokens"]
    token_lp = jnp.take_along_axis(logp, targets[..., None].astype(jnp.int32), -1)[..., 0]
    return jnp.sum(token_lp * _weights(batch), axis=-1)

  # ---- decoding ---------------------------------------------------------------------------
  def encode(self, params: PyTree, encoder_input_tokens: jax.Array) -> jax.Array:
    """Encoder outputs [B, L, emb_dim] (no dropout)."""
    return self.module.apply({"params": params}, encoder_input_tokens, enable_dropout=False,
                             method=self.module.encode)

  def make_decoding_fns(self, params: PyTree, encoder_input_tokens: jax.Array, num_beams: int,
                        max_decode_length: int) -> tuple[TokensToLogits, PyTree]:
    """Cached incremental decoding over a flattened batch of B * num_beams rows; jit-able.

    Args:
      params: model parameters.
      encoder_input_tokens: [B, L] int32 inputs, 0 = padding.
      num_beams: decode rows per input; row r of the flat batch belongs to input
        r // num_beams (user-major, as `jnp.repeat(x, num_beams, 0)` orders them).
      max_decode_length: number of decoder positions the cache holds (calls).

    Returns:
      tokens_to_logits(decoding_state_tokens_Bx1 int32 [B*num_beams, 1], cache)
        -> (logits_BxV float32 [B*num_beams, V], new_cache): feeds each row's
        last token (the first call gets `decoder_start_id` = 0) at that row's
        next position and returns the logits of the following token. The call
        at position t sees the tokens fed at positions 0..t, exactly like the
        teacher-forced `compute_logits` with `decoder_input_tokens` = those
        tokens. Call it at most `max_decode_length` times.
      initial_cache: a pytree whose arrays all have leading dim B * num_beams
        (self-attention keys/values [B*num_beams, heads, max_decode_length,
        head_dim] and `decode_position` [B*num_beams]); beam search may reorder
        its rows with any gather along axis 0. The encoder output and the
        cross-attention keys/values are computed once per input (not per beam)
        and captured by `tokens_to_logits`; they are not part of the cache.
    """
    b = encoder_input_tokens.shape[0]
    encoded = self.encode(params, encoder_input_tokens)
    start = jnp.full((b, 1), self.decoder_start_id, jnp.int32)
    _, init_vars = self.module.apply(
        {"params": params}, encoded, encoder_input_tokens, start, start, enable_dropout=False,
        decode=True, max_decode_length=max_decode_length, cache_cross_attention=True,
        mutable=["cache"], method=self.module.decode)
    cross, rest = _split_cross_cache(init_vars["cache"])
    initial_cache = traverse_util.unflatten_dict(
        {k: jnp.repeat(v, num_beams, axis=0) for k, v in rest.items()})

    def tokens_to_logits(decoding_state_tokens_Bx1: jax.Array, cache: PyTree):
      flat = traverse_util.flatten_dict(flax.core.unfreeze(cache))
      full_cache = traverse_util.unflatten_dict({**flat, **cross})
      tokens = decoding_state_tokens_Bx1.astype(jnp.int32)
      logits, new_vars = self.module.apply(
          {"params": params, "cache": full_cache}, encoded, encoder_input_tokens, tokens, tokens,
          enable_dropout=False, decode=True, max_decode_length=max_decode_length,
          mutable=["cache"], method=self.module.decode)
      _, new_rest = _split_cross_cache(new_vars["cache"])
      return logits[:, 0, :].astype(jnp.float32), traverse_util.unflatten_dict(new_rest)

    return tokens_to_logits, initial_cache

  def greedy_decode(self, params: PyTree, encoder_input_tokens: jax.Array,
                    max_decode_length: int) -> jax.Array:
    """Greedy decoding with the cache -> [B, max_decode_length] ids, 0 after the first eos; jit-able."""
    b = encoder_input_tokens.shape[0]
    tokens_to_logits, cache = self.make_decoding_fns(params, encoder_input_tokens, 1,
                                                     max_decode_length)

    def step(t, state):
      cache, last, out, done = state
      logits, cache = tokens_to_logits(last[:, None], cache)
      tok = jnp.where(done, 0, jnp.argmax(logits, -1).astype(jnp.int32))
      out = lax.dynamic_update_index_in_dim(out, tok, t, axis=1)
      return cache, tok, out, done | (tok == self.eos_id)

    state = (cache, jnp.full((b,), self.decoder_start_id, jnp.int32),
             jnp.zeros((b, max_decode_length), jnp.int32), jnp.zeros((b,), bool))
    return lax.fori_loop(0, max_decode_length, step, state)[2]
