"""SASRec (Kang & McAuley 2018) in Flax linen, trained with full softmax and ranked over all items."""

from __future__ import annotations

import dataclasses
import logging
from typing import Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm


@dataclasses.dataclass(frozen=True)
class SASRecConfig:
  """Model and training hyper-parameters."""
  max_len: int = 20  # Items of history the model sees (the split caps histories at 20).
  hidden: int = 64  # Embedding / hidden size.
  num_blocks: int = 2  # Self-attention blocks.
  num_heads: int = 1  # Attention heads.
  dropout: float = 0.2  # Dropout on embeddings, attention and FFN.
  learning_rate: float = 1e-3  # Adam.
  weight_decay: float = 0.0  # AdamW decay (0 = Adam).
  batch_size: int = 128  # Training sequences per step.
  epochs: int = 50  # Maximum epochs.
  patience: int = 5  # Evaluations without valid HR@10 gain before stopping (0 = never stop).
  eval_every: int = 2  # Epochs between validation passes.
  seed: int = 0


class SASRecBlock(nn.Module):
  """Pre-LN causal self-attention + point-wise feed-forward."""
  config: SASRecConfig

  @nn.compact
  def __call__(self, x_BxTxD, mask_BxHxTxT, deterministic: bool):
    cfg = self.config
    h = nn.LayerNorm()(x_BxTxD)
    h = nn.MultiHeadDotProductAttention(num_heads=cfg.num_heads, dropout_rate=cfg.dropout,
                                        deterministic=deterministic)(h, h, mask=mask_BxHxTxT)
    x_BxTxD = x_BxTxD + nn.Dropout(cfg.dropout)(h, deterministic=deterministic)
    h = nn.LayerNorm()(x_BxTxD)
    h = nn.Dense(cfg.hidden)(nn.relu(nn.Dense(cfg.hidden)(h)))
    return x_BxTxD + nn.Dropout(cfg.dropout)(h, deterministic=deterministic)


class SASRec(nn.Module):
  """Item ids (1-based, 0 = padding, left-padded) -> logits over items at every position."""
  num_items: int
  config: SASRecConfig

  @nn.compact
  def __call__(self, seq_BxT, deterministic: bool = True):
    cfg = self.config
    embed = nn.Embed(self.num_items + 1, cfg.hidden, name="item_embedding",
                     embedding_init=nn.initializers.normal(0.02))
    pos = self.param("pos_embedding", nn.initializers.normal(0.02), (cfg.max_len, cfg.hidden))
    valid_BxT = seq_BxT > 0
    x = embed(seq_BxT) * np.sqrt(cfg.hidden) + pos[None, -seq_BxT.shape[1]:]
    x = nn.Dropout(cfg.dropout)(x, deterministic=deterministic) * valid_BxT[..., None]
    mask = nn.combine_masks(nn.make_causal_mask(seq_BxT), nn.make_attention_mask(valid_BxT, valid_BxT))
    eye = jnp.eye(seq_BxT.shape[1], dtype=bool)[None, None]
    mask = jnp.logical_or(mask, eye)  # Padding rows attend to themselves (no NaNs).
    for n in range(cfg.num_blocks):
      x = SASRecBlock(cfg, name=f"block_{n}")(x, mask, deterministic) * valid_BxT[..., None]
    x = nn.LayerNorm()(x)
    logits = embed.attend(x)
    return logits.at[..., 0].set(-1e9)


def _pad_left(seqs: Sequence[Sequence[int]], length: int) -> np.ndarray:
  out = np.zeros([len(seqs), length], np.int32)
  for n, s in enumerate(seqs):
    s = list(s)[-length:]
    if s:
      out[n, length - len(s):] = s
  return out


def training_windows(sequences: Sequence[Sequence[int]], max_len: int) -> tuple[np.ndarray, np.ndarray]:
  """Chunks each sequence (1-based ids) into (input, next-item target) windows of max_len."""
  inputs, targets = [], []
  for seq in sequences:
    seq = list(seq)
    end = len(seq)
    while end >= 2:
      chunk = seq[max(0, end - max_len - 1):end]
      inputs.append(chunk[:-1])
      targets.append(chunk[1:])
      end -= max_len
  return _pad_left(inputs, max_len), _pad_left(targets, max_len)


class SASRecRecommender:
  """Trains SASRec on catalog-index sequences and ranks all items for histories."""

  def __init__(self, item_ids: Sequence[str], config: SASRecConfig = SASRecConfig()):
    self.item_ids = list(item_ids)
    self._index = {item: n for n, item in enumerate(self.item_ids)}
    self.config = config
    self.model = SASRec(num_items=len(self.item_ids), config=config)
    self.params = None
    self.history: list[dict] = []

  def to_ids(self, items: Sequence[str]) -> list[int]:
    """Item ids -> 1-based model ids; unknown items are dropped."""
    return [self._index[i] + 1 for i in items if i in self._index]

  def init(self):
    dummy = jnp.zeros([1, self.config.max_len], jnp.int32)
    # One jitted init; rbg bits compile ~2x faster than threefry for the many initialisers.
    init = jax.jit(self.model.init)
    self.params = init(jax.random.key(self.config.seed, impl="unsafe_rbg"), dummy)["params"]
    return self.params

  def fit(self, sequences: Mapping[str, Sequence[str]],
          valid: Optional[tuple[Sequence[Sequence[str]], Sequence[str]]] = None,
          progress: bool = True) -> "SASRecRecommender":
    """Trains on {user: items}; with `valid` (histories, targets) keeps the best HR@10 epoch."""
    cfg = self.config
    x_np, y_np = training_windows([self.to_ids(s) for s in sequences.values()], cfg.max_len)
    if not len(x_np):
      raise ValueError("SASRec: no training sequence has two or more items")
    params = self.params if self.params is not None else self.init()
    tx = optax.adamw(cfg.learning_rate, weight_decay=cfg.weight_decay) if cfg.weight_decay \
        else optax.adam(cfg.learning_rate)
    opt_state = tx.init(params)
    model = self.model

    @jax.jit
    def train_step(params, opt_state, x, y, rng):
      def loss_fn(p):
        logits = model.apply({"params": p}, x, deterministic=False, rngs={"dropout": rng})
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        w = (y > 0).astype(jnp.float32)
        return (ce * w).sum() / jnp.maximum(w.sum(), 1.0)
      loss, grads = jax.value_and_grad(loss_fn)(params)
      updates, opt_state = tx.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(cfg.seed)
    key = jax.random.key(cfg.seed + 1, impl="unsafe_rbg")  # Cheap-to-compile dropout bits.
    steps = max(1, int(np.ceil(len(x_np) / cfg.batch_size)))
    best, best_params, bad = -1.0, params, 0
    bar = tqdm.trange(cfg.epochs, desc="SASRec", disable=not progress)
    for epoch in bar:
      order = rng.permutation(len(x_np))
      order = np.concatenate([order, order[:steps * cfg.batch_size - len(order)]])  # Static shapes.
      losses = []
      for s in range(steps):
        idx = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
        key, sub = jax.random.split(key)
        params, opt_state, loss = train_step(params, opt_state, x_np[idx], y_np[idx], sub)
        losses.append(loss)
      record = {"epoch": epoch + 1, "loss": float(np.mean(jax.device_get(losses)))}
      if valid is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
        self.params = params
        top = self.predict(valid[0], top_k=10)
        targets = np.array([self._index.get(t, -2) for t in valid[1]])
        record["valid_hr10"] = float((top == targets[:, None]).any(1).mean())
        if record["valid_hr10"] > best:
          best, best_params, bad = record["valid_hr10"], params, 0
        else:
          bad += 1
      self.history.append(record)
      bar.set_postfix({k: round(v, 4) for k, v in record.items() if k != "epoch"})
      if valid is not None and cfg.patience and bad >= cfg.patience:
        logging.info("SASRec: early stop at epoch %d (best valid HR@10 %.4f)", epoch + 1, best)
        break
    self.params = best_params if valid is not None else params
    return self

  def scores(self, histories: Sequence[Sequence[str]], batch_size: int = 256) -> np.ndarray:
    """[U, N] next-item logits over the catalog."""
    return np.concatenate(list(self._batched(histories, batch_size, None)), 0)

  def predict(self, histories: Sequence[Sequence[str]], top_k: int = 10,
              batch_size: int = 256) -> np.ndarray:
    """[U, top_k] catalog indices, full ranking over every item."""
    return np.concatenate(list(self._batched(histories, batch_size, top_k)), 0)

  def _batched(self, histories, batch_size, top_k):
    if self.params is None:
      raise ValueError("SASRec: fit() or init() first")
    fn = _predict_fn(self.model, top_k)
    x = _pad_left([self.to_ids(h) for h in histories], self.config.max_len)
    for start in range(0, len(x), batch_size):
      chunk = x[start:start + batch_size]
      padded = np.zeros([batch_size, x.shape[1]], np.int32)
      padded[:len(chunk)] = chunk
      yield np.asarray(fn(self.params, padded))[:len(chunk)]


_PREDICT_FNS: dict = {}


def _predict_fn(model: SASRec, top_k: Optional[int]):
  key = (model.num_items, model.config, top_k)
  if key not in _PREDICT_FNS:
    @jax.jit
    def fn(params, x):
      logits = model.apply({"params": params}, x)[:, -1, 1:]  # Drop the padding column.
      return logits if top_k is None else jax.lax.top_k(logits, top_k)[1]
    _PREDICT_FNS[key] = fn
  return _PREDICT_FNS[key]
