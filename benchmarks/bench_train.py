"""One training step of the `macrec` T5 (4+4 layers, 6 heads x 64, d_model 128, MLP 1024): gr_jax vs HF.

  python benchmarks/bench_train.py [--batch 64] [--inputs 128] [--targets 8] [--vocab 5120]

Both sides train the same architecture (T5 v1.1: gated GELU, RMSNorm, 32 relative
position buckets, untied output layer, dropout 0.1) on the same random batch:
* jax: gr_jax's real training step, `train.make_train_step` (forward, backward, AdamW of
  `train.make_optimizer` with clipping and decay) on `model.EncoderDecoderModel`, jitted
  with the state donated, as `gr_jax.train` runs it;
* torch: Hugging Face `T5ForConditionalGeneration` (same dimensions), loss.backward(),
  `clip_grad_norm_(1.0)` and `torch.optim.AdamW` (all CPU threads).
tokens/s counts encoder + decoder tokens. FLOP accounting (`gr_jax.perf`): model FLOPs per
step = 3 x the forward matmul FLOPs (attention included), the same for both sides; each
side's achieved GFLOP/s and its share of the fp32 matmul peak measured in the same run
(jitted `--peak_size`^3 matmul, best of 5). One warm-up per side, then the median of `--repeats`
alternating rounds of `--steps` steps. The machine may be shared: compare ratios within a run.
torch and transformers (the `bench` extra) are imported lazily.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from gr_jax import io_utils
from gr_jax import perf

MACREC = dict(emb_dim=128, num_heads=6, head_dim=64, mlp_dim=1024, num_encoder_layers=4,
              num_decoder_layers=4)


def make_batch(batch: int, inputs: int, targets: int, vocab: int, seed: int = 0) -> dict:
  """T5 batch of random ids (no padding): decoder inputs are the targets shifted right."""
  rng = np.random.default_rng(seed)
  enc = rng.integers(2, vocab, (batch, inputs)).astype(np.int32)
  tgt = rng.integers(2, vocab, (batch, targets)).astype(np.int32)
  dec = np.concatenate([np.zeros((batch, 1), np.int32), tgt[:, :-1]], 1)
  return {"encoder_input_tokens": enc, "decoder_input_tokens": dec, "decoder_target_tokens": tgt,
          "decoder_loss_weights": np.ones_like(tgt)}


def t5_config(vocab: int, dropout: float):
  from gr_jax.model import t5  # pylint: disable=g-import-not-at-top
  return t5.T5Config(vocab_size=vocab, dropout_rate=dropout, **MACREC)


def jax_step(batch: dict, vocab: int, lengths: dict, dropout: float):
  """`run(n)`: n gr_jax train steps; returns the last loss."""
  import jax  # pylint: disable=g-import-not-at-top
  from gr_jax import partitioning  # pylint: disable=g-import-not-at-top
  from gr_jax import train  # pylint: disable=g-import-not-at-top
  from gr_jax.model import models  # pylint: disable=g-import-not-at-top
  config = t5_config(vocab, dropout)
  model = models.EncoderDecoderModel(config)
  tx, lr_fn = train.make_optimizer(10_000, warmup_steps=10)
  partitioner = partitioning.Partitioner()
  init_rng, dropout_rng = jax.random.split(jax.random.PRNGKey(0))
  _, shardings = train.train_state_shardings(model, tx, partitioner, lengths, init_rng)
  state = [train.init_train_state(model, tx, partitioner, lengths, init_rng, shardings)]
  step = jax.jit(train.make_train_step(model, tx, lr_fn, dropout_rng),
                 out_shardings=(shardings, partitioner.replicated), donate_argnums=(0,))
  device_batch = partitioner.shard_batch(batch)

  def run(n: int) -> float:
    with partitioner.context():
      for _ in range(n):
        state[0], metrics = step(state[0], device_batch)
    return float(metrics["loss"])

  return run


def torch_step(batch: dict, vocab: int, dropout: float):
  """`run(n)`: n Hugging Face T5ForConditionalGeneration train steps; returns the last loss."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(len(os.sched_getaffinity(0)))
  torch.manual_seed(0)
  config = transformers.T5Config(
      vocab_size=vocab, d_model=MACREC["emb_dim"], d_kv=MACREC["head_dim"],
      d_ff=MACREC["mlp_dim"], num_layers=MACREC["num_encoder_layers"],
      num_decoder_layers=MACREC["num_decoder_layers"], num_heads=MACREC["num_heads"],
      feed_forward_proj="gated-gelu", dropout_rate=dropout, tie_word_embeddings=False,
      relative_attention_num_buckets=32, relative_attention_max_distance=128,
      decoder_start_token_id=0, pad_token_id=0)
  model = transformers.T5ForConditionalGeneration(config).train()
  decay = [p for p in model.parameters() if p.ndim > 1]
  no_decay = [p for p in model.parameters() if p.ndim <= 1]
  opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                           {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)
  enc = torch.from_numpy(batch["encoder_input_tokens"].astype(np.int64))
  dec = torch.from_numpy(batch["decoder_input_tokens"].astype(np.int64))
  labels = torch.from_numpy(batch["decoder_target_tokens"].astype(np.int64))
  mask = torch.ones_like(enc)

  def run(n: int) -> float:
    for _ in range(n):
      loss = model(input_ids=enc, attention_mask=mask, decoder_input_ids=dec, labels=labels).loss
      loss.backward()
      torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
      opt.step()
      opt.zero_grad(set_to_none=True)
    return float(loss.detach())

  return run


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--inputs", type=int, default=128, help="Encoder tokens per example.")
  parser.add_argument("--targets", type=int, default=8, help="Decoder tokens per example.")
  parser.add_argument("--vocab", type=int, default=5120,
                      help="Default: ~3000 SentencePiece pieces + 2 x 4 x 256 MACRec SID tokens.")
  parser.add_argument("--dropout", type=float, default=0.1)
  parser.add_argument("--steps", type=int, default=3, help="Train steps per timed round.")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--skip-torch", action="store_true")
  parser.add_argument("--peak_size", type=int, default=perf.PEAK_MATMUL_SIZE,
                      help="n of the n^3 fp32 matmul that measures the peak.")
  parser.add_argument("--json", default=None, help="Also write the numbers here.")
  args = parser.parse_args()

  batch = make_batch(args.batch, args.inputs, args.targets, args.vocab)
  lengths = {"inputs": args.inputs, "targets": args.targets}
  sides = {"jax": jax_step(batch, args.vocab, lengths, args.dropout)}
  if not args.skip_torch:
    sides["torch"] = torch_step(batch, args.vocab, args.dropout)
  first_loss = {k: fn(1) for k, fn in sides.items()}  # Warm-up (jit compile) + initial loss.
  times = {k: [] for k in sides}
  for _ in range(args.repeats):
    for k, fn in sides.items():
      start = time.perf_counter()
      fn(args.steps)
      times[k].append((time.perf_counter() - start) / args.steps)
  step_s = {k: statistics.median(v) for k, v in times.items()}
  tokens = args.batch * (args.inputs + args.targets)
  flops = perf.t5_train_flops(t5_config(args.vocab, args.dropout), args.inputs, args.targets,
                              args.batch)
  peak = perf.matmul_peak_gflops(args.peak_size)
  reports = {k: perf.share_of_peak(flops, 1.0 / t, peak) for k, t in step_s.items()}
  import jax  # pylint: disable=g-import-not-at-top
  result = {
      "batch": args.batch, "inputs": args.inputs, "targets": args.targets, "vocab": args.vocab,
      "dropout": args.dropout, "device": str(jax.devices()[0]), "cpus": len(os.sched_getaffinity(0)),
      "step_seconds": step_s, "tokens_per_s": {k: tokens / t for k, t in step_s.items()},
      "step_gflop": flops / 1e9, "peak_gflops": peak,
      "flop_utilisation": {k: r["share_of_peak"] for k, r in reports.items()},
      "flops": reports,
      "first_loss": first_loss,
  }
  if "torch" in step_s:
    result["speedup_vs_torch"] = step_s["torch"] / step_s["jax"]
  print(f"macrec T5 train step: batch {args.batch} x ({args.inputs} + {args.targets}) tokens, "
        f"vocab {args.vocab}, {flops / 1e9:.1f} GFLOP/step, {result['cpus']} CPU(s), "
        f"device {result['device']}")
  for k, t in step_s.items():
    print(f"  {k:6s} {t * 1e3:9.1f} ms/step  {tokens / t:10.0f} tokens/s  "
          f"(first loss {first_loss[k]:.3f})")
    print(perf.format_share(k, reports[k], "step"))
  print(f"  fp32 matmul peak (jitted {args.peak_size}^3): {peak:.1f} GFLOP/s")
  if "speedup_vs_torch" in result:
    print(f"  gr_jax / Hugging Face tokens/s: {result['speedup_vs_torch']:.2f}x")
  if args.json:
    io_utils.atomic_write_json(args.json, result, indent=2)


if __name__ == "__main__":
  main()
