"""A tiny autoregressive stand-in with the `make_decoding_fns` / `score_batch` interface (tests only)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class ToySeq2Seq:
  """Mean-pooled input embedding -> a tanh RNN decoder whose state is the KV-cache stand-in.

  The state depends on the whole prefix, so a wrong beam/cache gather changes scores.
  """

  def __init__(self, vocab_size: int, dim: int = 16, max_len: int = 16):
    self.vocab_size, self.dim, self.max_len = vocab_size, dim, max_len

  def init(self, seed: int = 0, scale: float = 2.0) -> dict:
    rng = np.random.default_rng(seed)
    d, v = self.dim, self.vocab_size
    return {"enc": jnp.asarray(rng.normal(size=[v, d]), jnp.float32),
            "emb": jnp.asarray(rng.normal(size=[v, d]), jnp.float32),
            "pos": jnp.asarray(rng.normal(size=[self.max_len, d]), jnp.float32),
            "w": jnp.asarray(rng.normal(size=[d, d]) / np.sqrt(d), jnp.float32),
            "out": jnp.asarray(scale * rng.normal(size=[d, v]) / np.sqrt(d), jnp.float32),
            "bias": jnp.zeros([v], jnp.float32)}

  def _encode(self, params, tokens_BxT):
    mask = (tokens_BxT > 0)[..., None]
    summed = (params["enc"][tokens_BxT] * mask).sum(1) / jnp.maximum(mask.sum(1), 1)
    return jnp.tanh(summed)

  @staticmethod
  def _step(params, h, pos, tokens_B):
    h = jnp.tanh(h @ params["w"] + params["emb"][tokens_B] + params["pos"][pos])
    return h, h @ params["out"] + params["bias"]

  def make_decoding_fns(self, params, encoder_input_tokens, num_beams, max_decode_length):
    del max_decode_length
    h0 = jnp.repeat(self._encode(params, encoder_input_tokens), num_beams, axis=0)
    cache = {"h": h0, "pos": jnp.zeros([h0.shape[0]], jnp.int32)}

    def tokens_to_logits(tokens_Bx1, cache):
      h, logits = self._step(params, cache["h"], cache["pos"], tokens_Bx1[:, 0])
      return logits, {"h": h, "pos": cache["pos"] + 1}

    return tokens_to_logits, cache

  def score_batch(self, params, batch) -> jax.Array:
    """Sum of log p(target) under teacher forcing; batch has encoder_input_tokens,
    decoder_input_tokens, decoder_target_tokens (0 = padding)."""
    h = self._encode(params, batch["encoder_input_tokens"])
    inputs, targets = batch["decoder_input_tokens"], batch["decoder_target_tokens"]
    total = jnp.zeros([h.shape[0]])
    for t in range(targets.shape[1]):
      h, logits = self._step(params, h, jnp.full([h.shape[0]], t), inputs[:, t])
      lp = jnp.take_along_axis(jax.nn.log_softmax(logits), targets[:, t:t + 1], 1)[:, 0]
      total = total + jnp.where(targets[:, t] > 0, lp, 0.0)
    return total


def teacher_batch(encoder_input_tokens, targets_NxT, decoder_start_id: int = 0) -> dict:
  """T5-style batch: decoder inputs are the targets shifted right behind the start token."""
  targets = np.asarray(targets_NxT, np.int32)
  inputs = np.concatenate([np.full([targets.shape[0], 1], decoder_start_id, np.int32),
                           targets[:, :-1]], 1)
  return {"encoder_input_tokens": jnp.asarray(encoder_input_tokens, jnp.int32),
          "decoder_input_tokens": jnp.asarray(inputs), "decoder_target_tokens": jnp.asarray(targets)}


class CopyLastItemModel:
  """Decodes the SID that ends the encoder input (the last history item), then eos.

  Inputs end with `<SID tokens> eos`; step t boosts the t-th of those tokens by
  `margin` over a small input-independent preference `params["prior"]`.
  """

  def __init__(self, vocab_size: int, sid_length: int, margin: float = 8.0):
    self.vocab_size, self.sid_length, self.margin = vocab_size, sid_length, margin

  def init(self, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"prior": jnp.asarray(rng.normal(size=[self.vocab_size]) * 0.1, jnp.float32)}

  def make_decoding_fns(self, params, encoder_input_tokens, num_beams, max_decode_length):
    del max_decode_length
    enc = jnp.asarray(encoder_input_tokens)
    eos_pos = jnp.argmax(enc == 1, axis=1)
    idx = jnp.maximum(eos_pos[:, None] - self.sid_length + jnp.arange(self.sid_length), 0)
    want = jnp.concatenate([jnp.take_along_axis(enc, idx, 1), jnp.ones_like(idx[:, :1])], 1)
    want = jnp.repeat(want, num_beams, axis=0)
    cache = {"pos": jnp.zeros([want.shape[0]], jnp.int32), "want": want}

    def tokens_to_logits(tokens_Bx1, cache):
      del tokens_Bx1
      pos = jnp.minimum(cache["pos"], self.sid_length)
      target = jnp.take_along_axis(cache["want"], pos[:, None], 1)[:, 0]
      logits = params["prior"][None, :] + self.margin * jax.nn.one_hot(target, self.vocab_size)
      return logits, {"pos": cache["pos"] + 1, "want": cache["want"]}

    return tokens_to_logits, cache
