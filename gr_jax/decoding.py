"""Jitted decoding over `tokens_to_logits`: trie-constrained SID beam search (also as a T5X
`decode_fn`), text decoding, ensembles."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence

import flax
from flax import traverse_util
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

NEG_INF = -1.0e10  # Finite "minus infinity": sums stay finite, masks stay exact.
_DEAD = NEG_INF / 2  # Any score below this is a dead beam.
DEFAULT_DENSE_MAX_ENTRIES = 1 << 20  # A level is a dense [prefixes, codes] table up to this size.

# tokens_to_logits(decoding_state_tokens_Bx1, cache) -> (logits_BxV, new_cache), B = batch * beams.
TokensToLogits = Callable[[jax.Array, Any], tuple[jax.Array, Any]]


@flax.struct.dataclass
class TrieLevel:
  """Prefix -> allowed next tokens at one SID level, dense or sparse (CSR)."""
  tokens: jax.Array  # [C] sorted vocab ids used at this level.
  table: jax.Array  # dense: [P, C] child id per (prefix node, code), -1 if absent; sparse: [0].
  start: jax.Array  # sparse: [P + 1] first edge of each node; dense: [0].
  edge_token: jax.Array  # sparse: [E] vocab id of each edge (sorted by node, token); dense: [0].
  edge_child: jax.Array  # sparse: [E] child id of each edge; dense: [0].
  kind: str = flax.struct.field(pytree_node=False, default="dense")
  width: int = flax.struct.field(pytree_node=False, default=0)  # Candidates per beam.


@flax.struct.dataclass
class Trie:
  """All catalog SIDs as device arrays; children of the last level are item indices."""
  levels: tuple[TrieLevel, ...]
  sids: jax.Array  # [N, L] vocab ids of every item's SID (row = item index).

  @property
  def sid_length(self) -> int:
    return len(self.levels)

  @property
  def num_items(self) -> int:
    return self.sids.shape[0]


@flax.struct.dataclass
class BeamResult:
  """Top-K distinct catalog items per user, best first; item -1 / score -inf where none."""
  items: jax.Array  # [B, K] int32 item indices.
  tokens: jax.Array  # [B, K, L] int32 SID token ids.
  scores: jax.Array  # [B, K] float32 log-probabilities.


def build_trie(sid_token_ids_NxL, dense_max_entries: int = DEFAULT_DENSE_MAX_ENTRIES) -> Trie:
  """Builds the constraint trie from each item's SID token ids (row n = item n).

  Level l maps the distinct prefixes of length l (nodes, numbered in sorted
  order) to their children; a level is a dense table when prefixes x codes
  <= `dense_max_entries`, else a CSR edge list padded to the largest fan-out.
  """
  sids = np.asarray(sid_token_ids_NxL, dtype=np.int64)
  if sids.ndim != 2 or sids.shape[0] == 0 or sids.shape[1] == 0:
    raise ValueError(f"expected a non-empty [N, L] array of SID token ids, got shape {sids.shape}")
  if (sids < 0).any():
    raise ValueError("SID token ids must be non-negative")
  n, length = sids.shape
  _, first, counts = np.unique(sids, axis=0, return_index=True, return_counts=True)
  if (counts > 1).any():
    dup = int(first[np.argmax(counts > 1)])
    raise ValueError(f"{int((counts > 1).sum())} SIDs are shared by several items "
                     f"(e.g. item {dup}: {sids[dup].tolist()}); SIDs must be unique")
  node = np.zeros(n, np.int64)  # Node of each item's prefix at the current level.
  levels = []
  for level in range(length):
    if level + 1 < length:
      _, child = np.unique(sids[:, :level + 1], axis=0, return_inverse=True)
      child = child.reshape(-1)
    else:
      child = np.arange(n)
    edges = np.unique(np.stack([node, sids[:, level], child], 1), axis=0)  # Sorted by node, token.
    parent, token, kid = edges[:, 0], edges[:, 1], edges[:, 2]
    num_nodes = int(node.max()) + 1
    tokens = np.unique(token)
    empty = np.zeros([0], np.int32)
    if num_nodes * len(tokens) <= dense_max_entries:
      table = np.full([num_nodes, len(tokens)], -1, np.int32)
      table[parent, np.searchsorted(tokens, token)] = kid
      levels.append(TrieLevel(tokens=jnp.asarray(tokens, jnp.int32), table=jnp.asarray(table),
                              start=jnp.asarray(empty), edge_token=jnp.asarray(empty),
                              edge_child=jnp.asarray(empty), kind="dense", width=len(tokens)))
    else:
      degree = np.bincount(parent, minlength=num_nodes)
      start = np.concatenate([[0], np.cumsum(degree)]).astype(np.int32)
      levels.append(TrieLevel(tokens=jnp.asarray(tokens, jnp.int32), table=jnp.asarray(empty),
                              start=jnp.asarray(start), edge_token=jnp.asarray(token, jnp.int32),
                              edge_child=jnp.asarray(kid, jnp.int32), kind="sparse",
                              width=int(degree.max())))
    node = child
  return Trie(levels=tuple(levels), sids=jnp.asarray(sids, jnp.int32))


def _level_candidates(level: TrieLevel, node_M: jax.Array, width: int):
  """(vocab id, child) of every allowed next token of each node, padded to `width` with -1."""
  node_M = jnp.maximum(node_M, 0)
  m = node_M.shape[0]
  if level.kind == "dense":
    child_MxC = level.table[node_M]
    token_MxC = jnp.broadcast_to(level.tokens[None, :], child_MxC.shape)
  else:
    idx_MxD = level.start[node_M][:, None] + jnp.arange(level.width, dtype=jnp.int32)[None, :]
    ok_MxD = idx_MxD < level.start[node_M + 1][:, None]
    idx_MxD = jnp.minimum(idx_MxD, level.edge_token.shape[0] - 1)
    token_MxC = jnp.where(ok_MxD, level.edge_token[idx_MxD], -1)
    child_MxC = jnp.where(ok_MxD, level.edge_child[idx_MxD], -1)
  pad = width - child_MxC.shape[1]
  if pad:
    fill = jnp.full([m, pad], -1, jnp.int32)
    token_MxC = jnp.concatenate([token_MxC, fill], 1)
    child_MxC = jnp.concatenate([child_MxC, fill], 1)
  return token_MxC, child_MxC


def candidate_log_probs(logits_MxV: jax.Array, token_MxW: jax.Array) -> jax.Array:
  """log_softmax(logits) at the given vocab ids (any id < 0 reads id 0), [M, W].

  The same operations as `jax.nn.log_softmax` (so the same values) without writing
  the [M, V] log-probabilities: a max and a sum-of-exp pass over the logits only.
  """
  logits = logits_MxV.astype(jnp.float32)
  x_max = jnp.max(logits, axis=-1, keepdims=True)
  shifted_logsumexp = jnp.log(jnp.sum(jnp.exp(logits - x_max), axis=-1, keepdims=True))
  picked = jnp.take_along_axis(logits, jnp.maximum(token_MxW, 0), axis=1)
  return (picked - x_max) - shifted_logsumexp


def gather_beams(tree, beam_idx_BxK: jax.Array, batch_size: int, old_beams: int):
  """Reorders every [batch * old_beams, ...] leaf of `tree` by per-user beam indices.

  Gathers stay within a user (a batched gather), so a batch sharded over 'data' stays sharded.
  """
  new_beams = beam_idx_BxK.shape[1]

  def gather(x):
    if not hasattr(x, "ndim") or x.ndim == 0 or x.shape[0] != batch_size * old_beams:
      return x
    x_BxKx = x.reshape((batch_size, old_beams) + x.shape[1:])
    out = jax.vmap(lambda row, idx: row[idx])(x_BxKx, beam_idx_BxK)
    return out.reshape((batch_size * new_beams,) + x.shape[1:])

  return jax.tree_util.tree_map(gather, tree)


def _top_k_candidates(cand_BxKxW: jax.Array, k: int):
  """Top-k of all (beam, candidate) pairs per user -> (scores, beam index, candidate index)."""
  b, beams, width = cand_BxKxW.shape
  if width > k:  # Two stages (exact: no beam contributes more than k winners).
    s_BxKxk, c_BxKxk = lax.top_k(cand_BxKxW, k)
    scores, flat = lax.top_k(s_BxKxk.reshape(b, beams * k), k)
    cand = jnp.take_along_axis(c_BxKxk.reshape(b, beams * k), flat, axis=1)
    return scores, flat // k, cand
  scores, flat = lax.top_k(cand_BxKxW.reshape(b, beams * width), k)
  return scores, flat // width, flat % width


def constrained_beam_search(tokens_to_logits: TokensToLogits, initial_cache, trie: Trie,
                            batch_size: int, beam_size: int, top_k: Optional[int] = None,
                            eos_id: int = 1, decoder_start_id: int = 0,
                            include_eos: bool = True,
                            forced_tokens: Optional[jax.Array] = None,
                            initial_cache_beams: Optional[int] = None) -> BeamResult:
  """Beam search whose every hypothesis is a prefix of a catalog SID; jit-able.

  Scores are the model's log-probabilities of the SID tokens (not renormalised
  over the allowed tokens), plus log p(eos | SID) with `include_eos`, i.e. the
  teacher-forced score of `SID + eos`. Beams are distinct, so the K results are
  K distinct items. `initial_cache` leaves have leading dim batch_size *
  `initial_cache_beams` (default beam_size). With `initial_cache_beams=1` the
  first step, whose only live hypothesis is the empty prefix, runs one row per
  user (no work for the beam_size - 1 dead beams) and its cache rows are then
  copied to the beam_size winners; `tokens_to_logits` must then accept both
  batch_size and batch_size * beam_size rows (as `make_decoding_fns` does).
  `forced_tokens` [batch, L] (vocab id, or -1 = free) pins SID positions per user,
  e.g. the true first level for an oracle-prefix diagnosis.
  """
  logits_fn = lambda t, seq, last_M, cache: tokens_to_logits(last_M[:, None], cache)
  return _trie_search(logits_fn, initial_cache, trie, batch_size, beam_size, top_k, eos_id,
                      decoder_start_id, include_eos, forced_tokens,
                      initial_beams=initial_cache_beams or beam_size)


def _trie_search(logits_fn, initial_cache, trie: Trie, batch_size: int, beam_size: int,
                 top_k: Optional[int], eos_id: int, decoder_start_id: int,
                 include_eos: bool, forced_tokens: Optional[jax.Array] = None,
                 initial_beams: Optional[int] = None) -> BeamResult:
  """`constrained_beam_search` over `logits_fn(step, sequences_BxKxL, last_tokens_M, cache)`."""
  k = beam_size
  top_k = k if top_k is None else top_k
  if not 0 < top_k <= k:
    raise ValueError(f"top_k={top_k} must be in [1, beam_size={k}]")
  initial_beams = k if initial_beams is None else initial_beams
  if initial_beams not in (1, k):
    raise ValueError(f"initial_beams={initial_beams} must be 1 or beam_size={k}")
  b, length = batch_size, trie.sid_length
  width = max(level.width for level in trie.levels)
  branches = [functools.partial(_level_candidates, level, width=width) for level in trie.levels]

  def step(t, state, candidates):
    """One token for every beam: beams in = state's beams (1 or k), beams out = k."""
    cache, node_BxJ, last_BxJ, scores_BxJ, seq_BxJxL = state
    j = scores_BxJ.shape[1]
    logits, cache = logits_fn(t, seq_BxJxL, last_BxJ.reshape(b * j), cache)
    token_MxW, child_MxW = candidates(node_BxJ.reshape(-1))
    w = token_MxW.shape[1]
    cand_lp = candidate_log_probs(logits, token_MxW)
    cand_BxJxW = (scores_BxJ.reshape(-1, 1) + cand_lp).reshape(b, j, w)
    alive = (child_MxW >= 0).reshape(b, j, w) & (scores_BxJ > _DEAD)[:, :, None]
    if forced_tokens is not None:  # Pinned positions keep only their token.
      forced_B = lax.dynamic_index_in_dim(forced_tokens, t, axis=1, keepdims=False)
      alive &= ((forced_B[:, None, None] < 0)
                | (token_MxW.reshape(b, j, w) == forced_B[:, None, None]))
    cand_BxJxW = jnp.where(alive, cand_BxJxW, NEG_INF)
    new_scores, beam_BxK, c_BxK = _top_k_candidates(cand_BxJxW, k)
    pick = lambda x_MxW: jnp.take_along_axis(
        gather_beams(x_MxW, beam_BxK, b, j).reshape(b, k, w), c_BxK[:, :, None], 2)[:, :, 0]
    token_BxK, child_BxK = pick(token_MxW), pick(child_MxW)
    cache = gather_beams(cache, beam_BxK, b, j)
    seq_BxKxL = jax.vmap(lambda s, i: s[i])(seq_BxJxL, beam_BxK).at[:, :, t].set(token_BxK)
    return cache, child_BxK, token_BxK, new_scores, seq_BxKxL

  def loop_step(t, state):
    if len(branches) == 1:
      return step(t, state, branches[0])
    return step(t, state, lambda node_M: lax.switch(t, branches, node_M))

  j0 = initial_beams
  scores0 = jnp.full([b, j0], NEG_INF, jnp.float32).at[:, 0].set(0.0)
  state = (initial_cache, jnp.zeros([b, j0], jnp.int32),
           jnp.full([b, j0], decoder_start_id, jnp.int32), scores0,
           jnp.zeros([b, j0, length], jnp.int32))
  first = 0
  if j0 == 1:  # Step 0 on the root alone, its candidates padded so that k can be picked.
    state = step(0, state, functools.partial(_level_candidates, trie.levels[0],
                                             width=max(trie.levels[0].width, k)))
    first = 1
  cache, item_BxK, last_BxK, scores_BxK, seq_BxKxL = lax.fori_loop(first, length, loop_step, state)
  if include_eos:
    logits, _ = logits_fn(length, seq_BxKxL, last_BxK.reshape(b * k), cache)
    eos_lp = candidate_log_probs(logits, jnp.full([b * k, 1], eos_id, jnp.int32)).reshape(b, k)
    scores_BxK = jnp.where(scores_BxK > _DEAD, scores_BxK + eos_lp, NEG_INF)
  scores_BxK, order = lax.top_k(scores_BxK, top_k)
  item_BxK = jnp.take_along_axis(item_BxK, order, 1)
  seq_BxKxL = jnp.take_along_axis(seq_BxKxL, order[:, :, None], 1)
  alive = scores_BxK > _DEAD
  return BeamResult(items=jnp.where(alive, item_BxK, -1),
                    tokens=jnp.where(alive[:, :, None], seq_BxKxL, -1),
                    scores=jnp.where(alive, scores_BxK, -jnp.inf))


def trim_padding(tokens_BxT, multiple: int = 32) -> np.ndarray:
  """Host-side: drops trailing columns that are padding (0) in every row, keeping the width a
  multiple of `multiple` (so a jitted decoder compiles at most T / multiple shapes).

  The encoder attends only to real tokens, so the result decodes to the same items as the
  padded batch (scores equal up to float summation order), for less encoder work.
  """
  tokens = np.asarray(tokens_BxT)
  if tokens.ndim != 2:
    raise ValueError(f"expected [B, T] token ids, got shape {tokens.shape}")
  used = np.flatnonzero((tokens != 0).any(axis=0))
  width = int(used[-1]) + 1 if used.size else 1
  width = min(tokens.shape[1], -(-width // multiple) * multiple)
  return tokens[:, :width]


def make_sid_predict_fn(model, beam_size: int, top_k: Optional[int] = None,
                        include_eos: bool = True, eos_id: int = 1, decoder_start_id: int = 0):
  """Jitted `fn(params, encoder_input_tokens_BxT, trie) -> BeamResult` for a model with
  `make_decoding_fns(params, encoder_input_tokens, num_beams, max_decode_length)`;
  `fn(..., forced_tokens=[B, L])` pins SID positions (see `constrained_beam_search`).
  The first step runs one decoder row per user (`initial_cache_beams=1`)."""

  @jax.jit
  def predict(params, encoder_input_tokens, trie: Trie, forced_tokens=None) -> BeamResult:
    tokens_to_logits, cache = model.make_decoding_fns(
        params, encoder_input_tokens, 1, trie.sid_length + 1)
    return constrained_beam_search(
        tokens_to_logits, cache, trie, encoder_input_tokens.shape[0], beam_size, top_k,
        eos_id=eos_id, decoder_start_id=decoder_start_id, include_eos=include_eos,
        forced_tokens=forced_tokens, initial_cache_beams=1)

  return predict


# Cache leaves that T5X's beam search neither expands nor gathers (scalars, shared biases).
_UNBATCHED_CACHE_LEAVES = ("cache_index", "cached_bias", "position_embedder_index")


@flax.struct.dataclass
class DecodingState:
  """The argument of a T5X `tokens_to_logits` (fields of `t5x.decoding.DecodingState`)."""
  cur_index: jax.Array  # [] int32: position of `cur_token` in `sequences`.
  sequences: jax.Array  # [B * K, max_decode_len + 1]: start token, decoded tokens, then 0.
  cur_token: jax.Array  # [B * K, 1] int32: the last token of every row.
  cache: Any


def _map_batched_cache(fn, cache):
  """Applies `fn` to every cache leaf that has a batch axis (T5X `cache_map` leaves)."""
  flat = traverse_util.flatten_dict(flax.core.unfreeze(cache))
  return traverse_util.unflatten_dict({
      k: v if k[-1] in _UNBATCHED_CACHE_LEAVES or jnp.ndim(v) == 0 else fn(v)
      for k, v in flat.items()})


def t5x_constrained_beam_search(inputs: jax.Array, cache, tokens_to_logits: Callable,
                                eos_id: int, num_decodes: int = 4, *,
                                trie: Optional[Trie] = None, max_decode_len: Optional[int] = None,
                                decode_rng: Optional[jax.Array] = None, cache_offset: int = 0,
                                initial_index: Optional[jax.Array] = None,
                                include_eos: bool = True, decoder_start_id: int = 0):
  """`constrained_beam_search` with the signature of a T5X `decode_fn`; jit-able.

  Use as `t5x.models.EncoderDecoderModel(decode_fn=...)` with `trie` bound by
  gin or functools.partial. Same beams and scores as `constrained_beam_search`.

  Args:
    inputs: [B, T] decoder prompt; T5X passes zeros (SIDs decode from the trie
      root, so a non-empty prompt is not supported). T is the default length.
    cache: T5X's decode cache, batch on axis `cache_offset` of every leaf;
      expanded here to B * num_decodes rows, user-major.
    tokens_to_logits: T5X's `fn(DecodingState) -> (logits [B*K, V], new_cache)`.
    eos_id: end token; its log-probability after the SID counts with `include_eos`.
    num_decodes: beams, i.e. distinct catalog items per input.
    trie: the catalog's SIDs (`build_trie`).
    max_decode_len: output length (default T); must hold a SID.
    decode_rng: unused (beam search is deterministic).
    cache_offset: axis of the batch in cache leaves (1 with scanned layers).
    initial_index: prompt lengths when T5X prefilled the cache; accepted so T5X
      can call this function, must be 0 (empty prompt, T5X's default).
    include_eos: score `SID + eos` (True) or the SID alone.
    decoder_start_id: token fed first (T5: 0).

  Returns:
    (sequences [B, K, max_decode_len]: SID tokens, eos, then 0;
     scores [B, K] log-probabilities), beams in increasing score order (best
    last, as `t5x.decoding.beam_search`). Beams without an item (catalog
    smaller than K) are all-0 sequences scored NEG_INF.
  """
  del decode_rng, initial_index
  if trie is None:
    raise ValueError("t5x_constrained_beam_search needs a `trie` (bind it with gin or partial)")
  b, k, length = inputs.shape[0], num_decodes, trie.sid_length
  max_len = inputs.shape[1] if max_decode_len is None else int(max_decode_len)
  if max_len < length:
    raise ValueError(f"max_decode_len={max_len} cannot hold SIDs of length {length}")
  to_t5x = lambda c: _map_batched_cache(lambda x: jnp.moveaxis(x, 0, cache_offset), c) \
      if cache_offset else c
  from_t5x = lambda c: _map_batched_cache(lambda x: jnp.moveaxis(x, cache_offset, 0), c) \
      if cache_offset else c
  cache = _map_batched_cache(lambda x: jnp.repeat(x, k, axis=0), from_t5x(cache))

  def logits_fn(t, seq_BxKxL, last_M, cache):
    m = b * k
    sequences = jnp.concatenate([
        jnp.full([m, 1], decoder_start_id, jnp.int32), seq_BxKxL.reshape(m, length),
        jnp.zeros([m, max(max_len - length, 0)], jnp.int32)], axis=1)
    state = DecodingState(cur_index=jnp.asarray(t, jnp.int32), sequences=sequences,
                          cur_token=last_M[:, None].astype(jnp.int32), cache=to_t5x(cache))
    logits, new_cache = tokens_to_logits(state)
    return logits, from_t5x(new_cache)

  res = _trie_search(logits_fn, cache, trie, b, k, k, eos_id, decoder_start_id, include_eos)
  alive = res.items >= 0
  seqs = jnp.where(alive[:, :, None], res.tokens, 0)
  tail = jnp.zeros([b, k, max_len - length], jnp.int32)
  if include_eos and max_len > length:
    tail = tail.at[:, :, 0].set(jnp.where(alive, eos_id, 0))
  seqs = jnp.concatenate([seqs, tail], axis=2)
  scores = jnp.where(alive, res.scores, NEG_INF)
  return seqs[:, ::-1], scores[:, ::-1]


def brevity_penalty(length, alpha: float):
  """T5X/GNMT length penalty ((5 + length) / 6) ** alpha."""
  return jnp.power((5.0 + length) / 6.0, alpha)


def beam_search(tokens_to_logits: TokensToLogits, initial_cache, batch_size: int, beam_size: int,
                max_decode_len: int, eos_id: int = 1, decoder_start_id: int = 0,
                alpha: float = 0.6):
  """Unconstrained beam search for text targets; jit-able.

  Returns (sequences [B, K, max_decode_len] best first, ending at eos then 0-padded;
  scores [B, K] = log-prob / brevity_penalty(length)). Unfinished beams count as
  finished at `max_decode_len`.
  """
  b, k, t_max = batch_size, beam_size, max_decode_len
  max_penalty = brevity_penalty(float(t_max), alpha)

  def cond(state):
    i, _, live_lp, _, fin_scores, _ = state
    best_live = live_lp[:, 0] / max_penalty  # Log-probs only fall: an upper bound.
    return (i < t_max) & ~jnp.all(fin_scores[:, -1] >= best_live)

  def body(state):
    i, live_seqs, live_lp, fin_seqs, fin_scores, cache = state
    tok_M = lax.dynamic_index_in_dim(live_seqs, i, axis=2, keepdims=False).reshape(b * k, 1)
    logits, cache = tokens_to_logits(tok_M, cache)
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    vocab = logp.shape[-1]
    cand = (live_lp.reshape(-1, 1) + logp).reshape(b, k * vocab)
    cand_lp, flat = lax.top_k(cand, 2 * k)
    beam_Bx2K, tok_Bx2K = flat // vocab, flat % vocab
    seqs = jax.vmap(lambda s, j: s[j])(live_seqs, beam_Bx2K)
    seqs = lax.dynamic_update_index_in_dim(seqs, tok_Bx2K, i + 1, axis=2)
    is_eos = tok_Bx2K == eos_id
    # Live: the best k candidates that did not end.
    new_live_lp, sel = lax.top_k(jnp.where(is_eos, NEG_INF, cand_lp), k)
    new_live = jnp.take_along_axis(seqs, sel[:, :, None], 1)
    cache = gather_beams(cache, jnp.take_along_axis(beam_Bx2K, sel, 1), b, k)
    # Finished: old finished + candidates that ended (or hit the length limit).
    done = is_eos | (i + 1 >= t_max)
    new_fin = jnp.where(done & (cand_lp > _DEAD),
                        cand_lp / brevity_penalty((i + 1).astype(jnp.float32), alpha), NEG_INF)
    all_scores = jnp.concatenate([fin_scores, new_fin], 1)
    all_seqs = jnp.concatenate([fin_seqs, seqs], 1)
    fin_scores, sel = lax.top_k(all_scores, k)
    fin_seqs = jnp.take_along_axis(all_seqs, sel[:, :, None], 1)
    return i + 1, new_live, new_live_lp, fin_seqs, fin_scores, cache

  seqs0 = jnp.zeros([b, k, t_max + 1], jnp.int32).at[:, :, 0].set(decoder_start_id)
  live_lp0 = jnp.full([b, k], NEG_INF, jnp.float32).at[:, 0].set(0.0)
  state = (jnp.array(0, jnp.int32), seqs0, live_lp0, seqs0, jnp.full([b, k], NEG_INF, jnp.float32),
           initial_cache)
  _, _, _, fin_seqs, fin_scores, _ = lax.while_loop(cond, body, state)
  return fin_seqs[:, :, 1:], fin_scores


def temperature_sample(tokens_to_logits: TokensToLogits, initial_cache, rng: jax.Array,
                       batch_size: int, max_decode_len: int, temperature: float = 1.0,
                       topk: int = 0, eos_id: int = 1, decoder_start_id: int = 0):
  """Greedy (temperature 0) or temperature / top-k sampling; jit-able.

  Returns (sequences [B, max_decode_len], 0 after eos; log-probs [B] of the
  sampled tokens under the model's unscaled distribution).
  """
  b = batch_size

  def cond(state):
    i, _, _, ended, _, _, _ = state
    return (i < max_decode_len) & ~jnp.all(ended)

  def body(state):
    i, last, seqs, ended, lp, cache, key = state
    logits, cache = tokens_to_logits(last[:, None], cache)
    logits = logits.astype(jnp.float32)
    key, sub = jax.random.split(key)
    if temperature == 0.0:
      tok = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    else:
      scaled = logits / temperature
      if topk:
        kth = lax.top_k(scaled, topk)[0][:, -1:]
        scaled = jnp.where(scaled < kth, NEG_INF, scaled)
      tok = jax.random.categorical(sub, scaled, axis=-1).astype(jnp.int32)
    tok_lp = jnp.take_along_axis(jax.nn.log_softmax(logits, -1), tok[:, None], 1)[:, 0]
    tok = jnp.where(ended, 0, tok)
    lp = lp + jnp.where(ended, 0.0, tok_lp)
    seqs = lax.dynamic_update_index_in_dim(seqs, tok, i, axis=1)
    return i + 1, tok, seqs, ended | (tok == eos_id), lp, cache, key

  state = (jnp.array(0, jnp.int32), jnp.full([b], decoder_start_id, jnp.int32),
           jnp.zeros([b, max_decode_len], jnp.int32), jnp.zeros([b], bool),
           jnp.zeros([b], jnp.float32), initial_cache, rng)
  _, _, seqs, _, lp, _, _ = lax.while_loop(cond, body, state)
  return seqs, lp


def ensemble(items: Sequence[jax.Array], scores: Sequence[jax.Array], top_k: int,
             method: str = "mean", normalize: str = "softmax", sid_lengths: Sequence[int] = (),
             presence_bonus: float = 1.0, rrf_k: float = 60.0) -> tuple[jax.Array, jax.Array]:
  """Fuses per-modality beam results ([B, K_m] item indices, -1 = none) by item; jit-able.

  method "mean" (MACRec: average the modalities' normalised scores):
    normalize "softmax": each modality's scores become probabilities over its
      beam; an item's fused score is their mean (0 where a modality missed it).
    normalize "length": log-prob / `sid_lengths[m]`; mean over the modalities
      that returned the item, plus `presence_bonus` per extra modality (the
      MQL4GRec ensemble rule: items found by both come first).
  method "rrf": reciprocal-rank fusion, sum of 1 / (rrf_k + rank).
  Returns (items [B, top_k], fused scores [B, top_k]), best first.
  """
  if len(items) != len(scores) or not items:
    raise ValueError("need one scores array per items array")
  normed, presents = [], []
  for m, (it, sc) in enumerate(zip(items, scores)):
    present = it >= 0
    sc = jnp.where(present, sc.astype(jnp.float32), NEG_INF)
    if method == "rrf":
      rank = jnp.argsort(jnp.argsort(-sc, axis=1), axis=1).astype(jnp.float32)
      s = 1.0 / (rrf_k + rank + 1.0)
    elif method == "mean" and normalize == "softmax":
      s = jax.nn.softmax(sc, axis=1) / len(items)
    elif method == "mean" and normalize == "length":
      s = sc / float(sid_lengths[m])
    else:
      raise ValueError(f"unknown ensemble method/normalize {method!r}/{normalize!r}")
    normed.append(jnp.where(present, s, 0.0))
    presents.append(present)
  it_BxN = jnp.concatenate(items, 1)
  s_BxN = jnp.concatenate(normed, 1)
  p_BxN = jnp.concatenate(presents, 1)
  same_BxNxN = (it_BxN[:, :, None] == it_BxN[:, None, :]) & p_BxN[:, :, None] & p_BxN[:, None, :]
  total = jnp.einsum("bij,bj->bi", same_BxNxN.astype(jnp.float32), s_BxN)
  if method == "mean" and normalize == "length":
    count = same_BxNxN.sum(-1).astype(jnp.float32)
    total = total / jnp.maximum(count, 1.0) + presence_bonus * (count - 1.0)
  n = it_BxN.shape[1]
  first = ~jnp.any(same_BxNxN & (jnp.arange(n)[None, None, :] < jnp.arange(n)[None, :, None]), -1)
  keep = p_BxN & first
  fused, idx = lax.top_k(jnp.where(keep, total, NEG_INF), top_k)
  out_items = jnp.take_along_axis(it_BxN, idx, 1)
  ok = fused > _DEAD
  return jnp.where(ok, out_items, -1), jnp.where(ok, fused, -jnp.inf)
