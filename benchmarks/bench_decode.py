"""Users/s of jitted trie-constrained beam search vs Hugging Face `generate(prefix_allowed_tokens_fn=...)`.

Same MACRec-size T5 (weights copied across with gr_jax.model.hf_convert), same
catalog of random unique 4-level SIDs, same encoder inputs, in one run; each batch
is cut to its longest input (HF: exactly, as a tokenizer pads to the longest; JAX:
to a multiple of 32 with `decoding.trim_padding`, as `gr_jax.recommend` batches). Prints
both throughputs, their ratio, and whether both return the same top-10 items
(in the same order) on a sample of users. FLOP accounting (`gr_jax.perf`): model FLOPs
per user are what a minimal cached beam search must do (the encoder over the user's real
tokens and the cross-attention keys/values once, then the decoder for each live beam of
each step: 1 beam at step 0), the same count for both sides; achieved GFLOP/s and the
share of the fp32 matmul peak measured in the same run follow from each side's users/s. Run:

  python benchmarks/bench_decode.py                 # defaults: 5000 items, beam 20, top-10
  python benchmarks/bench_decode.py --users 512 --hf_users 64 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from gr_jax import decoding
from gr_jax import io_utils
from gr_jax import perf
from gr_jax.model import hf_convert
from gr_jax.model import models
from gr_jax.model import t5

EOS = 1
# MACRec (arXiv 2511.15122 sec. 5.4): T5 with 4 encoder + 4 decoder layers, 6 heads of dim 64;
# d_model 128 and d_ff 1024 as TIGER / MQL4GRec, whose set-up MACRec follows.
PAPER_DIMS = dict(emb_dim=128, num_heads=6, head_dim=64, mlp_dim=1024, num_encoder_layers=4,
                  num_decoder_layers=4)
MACREC_GIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "gin", "models", "macrec.gin")


def model_config(vocab_size: int, gin_file: str) -> tuple[t5.T5Config, str]:
  """The T5Config of gin/models/macrec.gin when present, else the paper's dimensions."""
  if gin_file and os.path.exists(gin_file):
    import gin  # pylint: disable=g-import-not-at-top
    gin.parse_config_files_and_bindings([gin_file], [], skip_unknown=True)
    cfg = t5.T5Config()
    fields = {k: getattr(cfg, k) for k in PAPER_DIMS}
    source = gin_file
  else:
    fields, source = dict(PAPER_DIMS), "MACRec paper dimensions"
  return t5.T5Config(vocab_size=vocab_size, dropout_rate=0.0, **fields), source


def make_catalog(num_items: int, levels: int, codes: int, first_id: int, seed: int) -> np.ndarray:
  """[N, levels] unique SID token ids; level l uses ids first_id + l * codes + code."""
  rng = np.random.default_rng(seed)
  seen, rows = set(), []
  while len(rows) < num_items:
    row = tuple(int(c) for c in rng.integers(codes, size=levels))
    if row not in seen:
      seen.add(row)
      rows.append(row)
  return first_id + np.array(rows) + codes * np.arange(levels)[None, :]


def make_inputs(sids: np.ndarray, users: int, length: int, text_vocab: int, seed: int) -> np.ndarray:
  """Prompt-like encoder inputs: a few text tokens, then 3-20 history SIDs, eos, padding."""
  rng = np.random.default_rng(seed)
  out = np.zeros([users, length], np.int32)
  for u in range(users):
    hist = sids[rng.integers(len(sids), size=rng.integers(3, 21))].reshape(-1)
    ids = list(rng.integers(3, text_vocab, size=8)) + list(hist)
    ids = ids[:length - 1] + [EOS]
    out[u, :len(ids)] = ids
  return out


def bench_jax(model, params, enc, trie, beam, top_k, batch):
  """(users/s, items [U, top_k], scores) of the jitted constrained beam search."""
  fn = decoding.make_sid_predict_fn(model, beam, top_k, eos_id=EOS)
  # Each batch trimmed to its longest input (as gr_jax.recommend does); one compile per width.
  batches = [decoding.trim_padding(enc[s:s + batch]) for s in range(0, len(enc), batch)]
  t0 = time.perf_counter()
  for width in sorted({b.shape[1] for b in batches}):
    b = next(b for b in batches if b.shape[1] == width)
    jax.block_until_ready(fn(params, jnp.asarray(b), trie))
  compile_s = time.perf_counter() - t0
  items, scores = [], []
  t0 = time.perf_counter()
  for b in batches:
    res = fn(params, jnp.asarray(b), trie)
    items.append(np.asarray(res.items))
    scores.append(np.asarray(res.scores))
  seconds = time.perf_counter() - t0
  return len(enc) / seconds, np.concatenate(items), np.concatenate(scores), compile_s


def bench_hf(hf_model, enc, sids, beam, top_k, batch):
  """(users/s, items [U, top_k], scores) of HF beam search with a Python trie callback."""
  import torch  # pylint: disable=g-import-not-at-top
  trie: dict[tuple, list[int]] = {}
  for row in sids.tolist():
    for level in range(len(row)):
      trie.setdefault(tuple(row[:level]), set()).add(row[level])
    trie[tuple(row)] = {EOS}
  trie = {k: sorted(v) for k, v in trie.items()}
  item_of = {tuple(row): n for n, row in enumerate(sids.tolist())}

  def allowed(batch_id, input_ids):
    del batch_id
    return trie.get(tuple(input_ids.tolist()[1:]), [0])  # Drop the decoder start token.

  items, scores = [], []
  t0 = time.perf_counter()
  with torch.inference_mode():
    for start in range(0, len(enc), batch):
      x = torch.from_numpy(decoding.trim_padding(enc[start:start + batch], 1).astype(np.int64))
      out = hf_model.generate(
          input_ids=x, attention_mask=(x > 0).long(), num_beams=beam, num_return_sequences=top_k,
          max_new_tokens=sids.shape[1] + 1, prefix_allowed_tokens_fn=allowed, do_sample=False,
          length_penalty=0.0, early_stopping=True, output_scores=True,
          return_dict_in_generate=True)
      seqs = out.sequences.numpy()[:, 1:1 + sids.shape[1]]
      items.append(np.array([item_of.get(tuple(s), -1) for s in seqs.tolist()]).reshape(-1, top_k))
      scores.append(out.sequences_scores.numpy().reshape(-1, top_k))
  seconds = time.perf_counter() - t0
  return len(enc) / seconds, np.concatenate(items), np.concatenate(scores)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--items", type=int, default=5000, help="Catalog size.")
  p.add_argument("--levels", type=int, default=4, help="SID levels (MACRec: 4).")
  p.add_argument("--codes", type=int, default=256, help="Codes per level (MACRec: 256).")
  p.add_argument("--text_vocab", type=int, default=3000, help="Text pieces before the SID tokens.")
  p.add_argument("--input_length", type=int, default=128)
  p.add_argument("--beam", type=int, default=20)
  p.add_argument("--top_k", type=int, default=10)
  p.add_argument("--users", type=int, default=256, help="Users timed for JAX.")
  p.add_argument("--hf_users", type=int, default=32, help="Users timed for HF (the first ones).")
  p.add_argument("--batch", type=int, default=32, help="JAX users per batch.")
  p.add_argument("--hf_batch", type=int, default=8, help="HF users per generate() call.")
  p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores, as XLA).")
  p.add_argument("--logit_scale", type=float, default=4.0,
                 help="Scales the random output layer so beams are not near-ties (both models).")
  p.add_argument("--gin_file", default=MACREC_GIN)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--peak_size", type=int, default=perf.PEAK_MATMUL_SIZE,
                 help="n of the n^3 fp32 matmul that measures the peak.")
  p.add_argument("--json", default=None, help="Also write the results here.")
  args = p.parse_args(argv)

  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads or os.cpu_count())
  first_sid = args.text_vocab
  # Two SID modalities (text + image) in the vocabulary, as MACRec has; we decode the first.
  vocab_size = -(-(first_sid + 2 * args.levels * args.codes) // 128) * 128
  cfg, source = model_config(vocab_size, args.gin_file)
  model = models.EncoderDecoderModel(cfg)
  params = model.init_params(jax.random.PRNGKey(args.seed))
  params = jax.tree_util.tree_map_with_path(
      lambda path, x: x * args.logit_scale if "logits_dense" in jax.tree_util.keystr(path) else x,
      params)
  sids = make_catalog(args.items, args.levels, args.codes, first_sid, args.seed)
  trie = decoding.build_trie(sids)
  enc = make_inputs(sids, args.users, args.input_length, args.text_vocab, args.seed + 1)
  n_params = sum(x.size for x in jax.tree_util.tree_leaves(params))
  print(f"model: {source}: {cfg.num_encoder_layers}+{cfg.num_decoder_layers} layers, emb "
        f"{cfg.emb_dim}, {cfg.num_heads}x{cfg.head_dim} heads, mlp {cfg.mlp_dim}, vocab "
        f"{cfg.vocab_size}, {n_params / 1e6:.2f}M params")
  print(f"catalog: {args.items} items, {args.levels} levels x {args.codes} codes; trie levels "
        f"{[(l.kind, l.width) for l in trie.levels]}; beam {args.beam}, top-{args.top_k}; "
        f"devices {jax.devices()}; torch threads {torch.get_num_threads()}")

  jax_ups, jax_items, jax_scores, compile_s = bench_jax(model, params, enc, trie, args.beam,
                                                        args.top_k, args.batch)
  print(f"JAX constrained beam search: {jax_ups:.1f} users/s ({args.users} users, batch "
        f"{args.batch}; compile {compile_s:.1f} s, not counted)")
  hf_model = hf_convert.to_hf_model(params, cfg)
  hf_ups, hf_items, hf_scores = bench_hf(hf_model, enc[:args.hf_users], sids, args.beam,
                                         args.top_k, args.hf_batch)
  print(f"HF generate + prefix_allowed_tokens_fn: {hf_ups:.2f} users/s ({args.hf_users} users, "
        f"batch {args.hf_batch})")
  n = args.hf_users
  same = [bool((jax_items[u] == hf_items[u]).all()) for u in range(n)]
  same_set = [set(jax_items[u]) == set(hf_items[u]) for u in range(n)]
  max_diff = float(np.abs(jax_scores[:n] - hf_scores).max())
  ratio = jax_ups / hf_ups
  print(f"speed-up: {ratio:.1f}x")
  schedule = perf.beam_schedule(args.beam, sids)
  lengths = (enc > 0).sum(1)
  user_flops = np.array([perf.t5_decode_flops(cfg, int(n), schedule) for n in lengths])
  peak = perf.matmul_peak_gflops(args.peak_size)
  flop_reports = {"jax": perf.share_of_peak(user_flops.mean(), jax_ups, peak),
                  "hf": perf.share_of_peak(user_flops[:n].mean(), hf_ups, peak)}
  print(f"model FLOPs per user (encoder over {lengths.mean():.1f} real tokens on average, live "
        f"beams per step {schedule}); fp32 matmul peak ({args.peak_size}^3): {peak:.1f} GFLOP/s")
  print(perf.format_share("JAX", flop_reports["jax"], "user"))
  print(perf.format_share("HF generate", flop_reports["hf"], "user"))
  print(f"same top-{args.top_k} (order too): {sum(same)}/{n} users; same set: {sum(same_set)}/{n}; "
        f"max |log-prob diff| {max_diff:.2e}")
  if args.json:
    io_utils.atomic_write_json(args.json, {
        "model": source, "params": int(n_params), "items": args.items, "beam": args.beam,
        "top_k": args.top_k, "devices": str(jax.devices()), "torch_threads": torch.get_num_threads(),
        "jax_users_per_s": jax_ups, "jax_compile_s": compile_s, "hf_users_per_s": hf_ups,
        "speedup": ratio, "same_top_k": sum(same), "same_set": sum(same_set), "checked": n,
        "max_score_diff": max_diff, "peak_gflops": peak, "live_beams_per_step": schedule,
        "mean_encoder_tokens": float(lengths.mean()), "flops": flop_reports})
  return 0 if all(same_set) else 1


if __name__ == "__main__":
  sys.exit(main())
