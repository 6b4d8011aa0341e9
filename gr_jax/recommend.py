"""Top-K recommendations of a trained model: SID catalogs, batched constrained decoding, `gr-jax recommend`."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
from typing import Optional, Sequence

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import numpy as np
import tqdm

from gr_jax import decoding
from gr_jax.data import layout
from gr_jax.data import schema
from gr_jax.data import sids
# gr_jax.text_vocab (seqio, TensorFlow: seconds to import) is imported where it is used, so
# `gr-jax recommend` rejects a bad command line before paying for it.



def load_trained(model_dir: str):
  """(model, params, run_info) of a trained model directory (`gr_jax.train.load_trained`)."""
  from gr_jax import train  # pylint: disable=g-import-not-at-top
  return train.load_trained(model_dir)


@dataclasses.dataclass
class SidCatalog:
  """The items of one SID modality: trie row n is catalog item `catalog_index[n]`."""
  modality: str
  sid_strings: dict[str, str]  # item_id -> "<a_1><b_2><c_3>"
  catalog_index: np.ndarray  # [N] index into the catalog (items.jsonl order).
  tokens_NxL: np.ndarray  # [N, L] vocab ids.
  trie: decoding.Trie


def read_sid_strings(data_dir: str, tokenizer_run: str) -> dict[str, dict[str, str]]:
  """{modality: {item_id: SID string}} of `DIR/tokenizer/<run>/sids.json`."""
  return sids.read_sid_strings(layout.sids_path(data_dir, tokenizer_run))


def build_catalogs(vocab, sid_strings: dict[str, dict[str, str]], item_ids: Sequence[str],
                   dense_max_entries: int = decoding.DEFAULT_DENSE_MAX_ENTRIES) -> dict[str, SidCatalog]:
  """One trie per modality over the catalog items that have a SID there.

  A SID shared by several items (a peer's SIDs kept as published) enters the trie once,
  for the first of them in catalog order: the peers' tie rule (`index2id[sid][0]`).
  """
  out = {}
  for mod, table in sid_strings.items():
    seen = set()
    rows = [(n, table[i]) for n, i in enumerate(item_ids)
            if i in table and not (table[i] in seen or seen.add(table[i]))]
    if not rows:
      continue
    tokens = np.array([vocab.sid_token_ids(s) for _, s in rows], np.int32)
    out[mod] = SidCatalog(mod, dict(table), np.array([n for n, _ in rows], np.int32), tokens,
                          decoding.build_trie(tokens, dense_max_entries))
  return out


def encode_inputs(vocab, texts: Sequence[str], length: int, keep_recent: bool = False) -> np.ndarray:
  """[U, length] int32 ids: tokens trimmed to length - 1, then eos, then 0 padding (seqio style).

  `keep_recent`: compact history inputs keep their last items (`gr_jax_tasks.trim`), as in
  training; otherwise the first length - 1 tokens are kept (seqio's `append_eos_after_trim`)."""
  starts = None
  if keep_recent:
    from gr_jax_tasks import trim  # pylint: disable=g-import-not-at-top
    starts = trim.item_start_ranges(vocab)
  out = np.zeros([len(texts), length], np.int32)
  for n, text in enumerate(texts):
    ids = list(vocab.encode(text))
    ids = trim.keep_recent_ids(ids, length - 1, starts) if keep_recent else ids[:length - 1]
    ids = ids + [vocab.eos_id]
    out[n, :len(ids)] = ids
  return out


def decode_text(vocab, ids: Sequence[int]) -> str:
  """Token ids up to (not including) eos -> text."""
  ids = [int(i) for i in ids]
  if vocab.eos_id in ids:
    ids = ids[:ids.index(vocab.eos_id)]
  return vocab.decode([i for i in ids if i > 0])


@functools.lru_cache(maxsize=16)
def _sid_predict_fn(model, beam_size: int, top_k: int, eos_id: int):
  """One jitted constrained decoder per (model, beam, top_k); any trie is an argument."""
  return decoding.make_sid_predict_fn(model, beam_size, top_k, eos_id=eos_id)


@functools.lru_cache(maxsize=16)
def _text_predict_fn(model, beam_size: int, length: int, eos_id: int):
  """Jitted greedy (beam_size 1) or beam-search text decoder -> best sequence [B, length]."""

  @jax.jit
  def fn(params, enc):
    ttl, cache = model.make_decoding_fns(params, enc, beam_size, length)
    if beam_size == 1:
      return decoding.temperature_sample(ttl, cache, jax.random.PRNGKey(0), enc.shape[0], length,
                                         temperature=0.0, eos_id=eos_id)[0]
    return decoding.beam_search(ttl, cache, enc.shape[0], beam_size, length, eos_id=eos_id)[0][:, 0]

  return fn


def _data_sharding(batch_size: int):
  """Shards a batch over all local devices on a 1-D 'data' mesh when it divides evenly."""
  devices = jax.devices()
  if len(devices) < 2 or batch_size % len(devices):
    return None
  return NamedSharding(Mesh(np.array(devices), ("data",)), PartitionSpec("data"))


class Recommender:
  """A trained model plus its dataset: decodes catalog items for histories and task inputs."""

  def __init__(self, model, params, run_info: dict, beam_size: int = 20, top_k: int = 10,
               batch_size: int = 32, ensemble_method: str = "mean", normalize: str = "softmax",
               progress: bool = True):
    if top_k < 1 or top_k > beam_size:
      raise ValueError(f"top_k={top_k} must be in [1, beam_size={beam_size}]")
    from gr_jax import text_vocab as vocab_lib  # pylint: disable=g-import-not-at-top
    self.model, self.params, self.run_info = model, params, run_info
    self.beam_size, self.top_k, self.batch_size = beam_size, top_k, batch_size
    self.ensemble_method, self.normalize, self.progress = ensemble_method, normalize, progress
    self.data_dir = run_info["data_dir"]
    self.method = run_info["method"]
    self.tokenizer_run = run_info.get("tokenizer_run") or self.method
    vocab_dir = run_info.get("vocab_dir") or layout.vocab_dir(self.data_dir, self.tokenizer_run)
    self.vocab = vocab_lib.load_vocabulary(vocab_dir)
    self.items = schema.load_items(self.data_dir)
    self.item_ids = list(self.items)
    self.item_index = {item: n for n, item in enumerate(self.item_ids)}
    self.catalogs = build_catalogs(self.vocab, read_sid_strings(self.data_dir, self.tokenizer_run),
                                   self.item_ids)
    lengths = run_info.get("task_feature_lengths") or {}
    self.input_length = int(lengths.get("inputs", 512))
    self.target_length = int(lengths.get("targets", 64))
    self.max_history = int(run_info.get("max_history", layout.MAX_HISTORY))
    # Trained on compact history inputs (SID tokens alone, trimmed to the most recent items)?
    self.compact_history = bool((run_info.get("register_kwargs") or {}).get("compact_history", False))
    self._sharding = _data_sharding(batch_size)
    if self._sharding is not None:  # Users over 'data', parameters replicated.
      self.params = jax.device_put(params, NamedSharding(self._sharding.mesh, PartitionSpec()))

  @classmethod
  def from_model_dir(cls, model_dir: str, **kwargs) -> "Recommender":
    """A Recommender over `load_trained(model_dir)`."""
    model, params, run_info = load_trained(model_dir)
    return cls(model, params, run_info, **kwargs)

  def modality(self, preferred: str) -> str:
    """`preferred` if the SIDs have it, else the only modality (as the tasks do)."""
    if preferred in self.catalogs:
      return preferred
    if len(self.catalogs) == 1:
      return next(iter(self.catalogs))
    raise KeyError(f"no '{preferred}' SIDs; modalities: {sorted(self.catalogs)}")

  def seqrec_tasks(self) -> dict[str, str]:
    """{seqrec task: SID modality} of the model's method."""
    import gr_jax_tasks  # pylint: disable=g-import-not-at-top
    return {t: self.modality(m) for t, m in gr_jax_tasks.seqrec_modalities(self.method).items()}

  def encode(self, texts: Sequence[str], task: Optional[str] = None) -> np.ndarray:
    """[U, input_length] ids of `task`'s input texts, trimmed as training trimmed them."""
    from gr_jax_tasks import prompts  # pylint: disable=g-import-not-at-top
    keep_recent = bool(task) and self.compact_history and prompts.takes_history(task)
    return encode_inputs(self.vocab, texts, self.input_length, keep_recent=keep_recent)

  def _batches(self, texts: Sequence[str], desc: str, task: Optional[str]):
    ids = self.encode(texts, task)
    for start in tqdm.trange(0, len(ids), self.batch_size, desc=desc,
                             disable=not self.progress or len(ids) <= self.batch_size):
      chunk = ids[start:start + self.batch_size]
      batch = np.zeros([self.batch_size, ids.shape[1]], np.int32)
      batch[:len(chunk)] = chunk
      batch = decoding.trim_padding(batch)  # Same results, no encoder work on the padding tail.
      if self._sharding is not None:
        batch = jax.device_put(batch, self._sharding)
      yield len(chunk), batch

  def decode_sids(self, texts: Sequence[str], modality: str, desc: str = "decode",
                  forced_tokens: Optional[np.ndarray] = None, task: Optional[str] = None):
    """Constrained beam search per input -> (catalog indices [U, top_k] (-1 none), log-probs).

    `forced_tokens` [U, L] pins SID positions per input (vocab id, -1 = free); `task` names the
    task the texts belong to (history tasks of compact models are trimmed keep-recent)."""
    catalog = self.catalogs[modality]
    fn = _sid_predict_fn(self.model, self.beam_size, self.top_k, self.vocab.eos_id)
    items, scores = [], []
    start = 0
    for n, batch in self._batches(texts, desc, task):
      forced = None
      if forced_tokens is not None:
        forced = np.full([batch.shape[0], catalog.tokens_NxL.shape[1]], -1, np.int32)
        forced[:n] = forced_tokens[start:start + n]
        if self._sharding is not None:
          forced = jax.device_put(forced, self._sharding)
      start += n
      res = jax.device_get(fn(self.params, batch, catalog.trie, forced))
      rows = np.asarray(res.items[:n])
      items.append(np.where(rows >= 0, catalog.catalog_index[np.maximum(rows, 0)], -1))
      scores.append(np.asarray(res.scores[:n]))
    if not items:
      return np.zeros([0, self.top_k], np.int32), np.zeros([0, self.top_k], np.float32)
    return np.concatenate(items), np.concatenate(scores)

  def decode_texts(self, texts: Sequence[str], beam_size: int = 1, desc: str = "generate",
                   task: Optional[str] = None) -> list[str]:
    """Unconstrained decoding (greedy when beam_size == 1) -> target strings."""
    fn = _text_predict_fn(self.model, beam_size, self.target_length, self.vocab.eos_id)
    out = []
    for n, batch in self._batches(texts, desc, task):
      seqs = np.asarray(jax.device_get(fn(self.params, batch)))[:n]
      out.extend(decode_text(self.vocab, s) for s in seqs)
    return out

  def history_inputs(self, task: str, histories: Sequence[Sequence[str]], modality: str) -> list[str]:
    """Input texts of a seqrec task for item-id histories (last `max_history`, items with SIDs):
    the canonical prompt, or the compact SID-only form when the model was trained on it."""
    from gr_jax_tasks import prompts  # pylint: disable=g-import-not-at-top
    table = self.catalogs[modality].sid_strings
    texts = []
    for history in histories:
      sids = [table[i] for i in list(history)[-self.max_history:] if i in table]
      texts.append(prompts.format_compact_history(task, sids) if self.compact_history
                   else prompts.format_input(task, {"history_sids": sids}, variant=0))
    return texts

  def fuse(self, results: Sequence[tuple[np.ndarray, np.ndarray]]):
    """Ensemble of several (items, scores) decodings (MACRec text + image)."""
    if len(results) == 1:
      return results[0]
    lengths = [self.catalogs[m].tokens_NxL.shape[1] for m in self.seqrec_tasks().values()]
    items, scores = decoding.ensemble([r[0] for r in results], [r[1] for r in results], self.top_k,
                                      method=self.ensemble_method, normalize=self.normalize,
                                      sid_lengths=lengths)
    return np.asarray(items), np.asarray(scores)

  def recommend(self, histories: Sequence[Sequence[str]]):
    """Top-K catalog indices and scores for item-id histories (ensembled over seqrec tasks)."""
    unknown = sorted({i for h in histories for i in h if i not in self.item_index})
    if unknown:
      raise KeyError(f"unknown item ids (not in {os.path.join(self.data_dir, layout.ITEMS)}): "
                     + ", ".join(unknown[:20]) + (" ..." if len(unknown) > 20 else ""))
    results = [self.decode_sids(self.history_inputs(task, histories, mod), mod, desc=task, task=task)
               for task, mod in self.seqrec_tasks().items()]
    return self.fuse(results)


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--model_dir", required=True, help="Trained model directory (gr-jax train).")
  parser.add_argument("--history", required=True,
                      help="Comma-separated item ids of the user's history, oldest first.")
  parser.add_argument("-k", "--top_k", type=int, default=10, help="Items to recommend.")
  parser.add_argument("--beam_size", type=int, default=None, help="Beam width (default max(20, k)).")
  parser.add_argument("--ensemble", choices=["mean", "rrf"], default="mean",
                      help="How MACRec fuses its text- and image-SID beams.")
  parser.add_argument("--json", action="store_true", help="Print JSON lines instead of a table.")


def main(args) -> int:
  import json  # pylint: disable=g-import-not-at-top
  history = [h.strip() for h in args.history.split(",") if h.strip()]
  if not history:
    print("gr-jax recommend: --history is empty", file=sys.stderr)
    return 2
  beam = args.beam_size or max(20, args.top_k)
  if args.top_k < 1 or args.top_k > beam:
    print(f"gr-jax recommend: -k/--top_k must be between 1 and the beam size ({beam}), "
          f"got {args.top_k}", file=sys.stderr)
    return 2
  try:
    rec = Recommender.from_model_dir(args.model_dir, beam_size=beam, top_k=args.top_k, batch_size=1,
                                     ensemble_method=args.ensemble, progress=False)
    items, scores = rec.recommend([history])
  except KeyError as e:
    print(f"gr-jax recommend: {e.args[0]}", file=sys.stderr)
    return 2
  rows = [(rec.item_ids[int(i)], rec.items[rec.item_ids[int(i)]].title, float(s))
          for i, s in zip(items[0], scores[0]) if i >= 0]
  if args.json:
    for rank, (item_id, title, score) in enumerate(rows, 1):
      print(json.dumps({"rank": rank, "item_id": item_id, "title": title, "score": score},
                       ensure_ascii=False))
    return 0
  width = max([len("item_id")] + [len(r[0]) for r in rows])
  print(f"{'rank':>4}  {'item_id':<{width}}  {'score':>9}  title")
  for rank, (item_id, title, score) in enumerate(rows, 1):
    print(f"{rank:>4}  {item_id:<{width}}  {score:>9.4f}  {title}")
  return 0
