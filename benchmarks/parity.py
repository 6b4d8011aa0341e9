"""Parity, step by step, of gr_jax with the PyTorch stack (HF T5 + torch AdamW, a PyTorch RQ-VAE).

  python benchmarks/parity.py [--dataset Scientific] [--steps 300] [--json OUT]

On a real dataset of ../shared/data (RecBole/UniSRec files) it runs, in order:
1. RQ-VAE: gr_jax's tokenizer trainer (peer bindings) vs a PyTorch RQ-VAE written to the
   LC-Rec / MQL4GRec recipe, same init, same batches: loss per step, codes afterwards.
   gr_jax's codes (collisions reassigned) become the items' SIDs for steps 2-4.
2. T5 training, dropout 0, fp32: `train.make_train_step` + `make_optimizer` vs HF
   `T5ForConditionalGeneration` + torch AdamW (Trainer decay groups, clipping, schedule)
   from the same weights on the same seqrec batches: loss per step, every parameter after.
3. Decoding after (2): trie-constrained beam search vs HF `generate(prefix_allowed_tokens_fn)`
   on the test histories of `--users` users, beam 20, top-10, with and without eos scoring.
4. Dropout on: `--seeds` seeds per stack, valid loss after `--steps` steps.
Prints the tables and a PASS/FAIL line; `--json` writes everything (atomically). torch and
transformers (the `test` / `bench` extras) must be installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import jax
import numpy as np

from gr_jax import io_utils
from gr_jax.parity import data as pdata
from gr_jax.parity import rqvae as prq
from gr_jax.parity import t5 as pt5

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "shared", "data")


def _rows(losses_a, losses_b, rel, every):
  steps = len(rel)
  picks = sorted(set(list(range(0, steps, every)) + [steps - 1, int(np.argmax(rel))]))
  return [(s + 1, losses_a[s], losses_b[s], rel[s]) for s in picks]


def print_loss_table(title, names, rows):
  print(f"\n{title}")
  print(f"| step | loss {names[0]} | loss {names[1]} | rel. diff |")
  print("|---:|---:|---:|---:|")
  for step, a, b, r in rows:
    print(f"| {step} | {a:.6f} | {b:.6f} | {r:.1e} |")


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
  p.add_argument("--dataset", default="Scientific", help="Folder name in --data_dir.")
  p.add_argument("--data_dir", default=SHARED, help="Parent of the dataset folder.")
  p.add_argument("--steps", type=int, default=300, help="T5 training steps (each stack).")
  p.add_argument("--rqvae_steps", type=int, default=200, help="RQ-VAE training steps.")
  p.add_argument("--size", default="small", choices=sorted(pt5.SIZES), help="T5 size.")
  p.add_argument("--batch", type=int, default=32, help="T5 batch size.")
  p.add_argument("--users", type=int, default=1000, help="Users decoded by both stacks.")
  p.add_argument("--beam", type=int, default=20)
  p.add_argument("--top_k", type=int, default=10)
  p.add_argument("--seeds", type=int, default=3, help="Dropout runs per stack (0: skip).")
  p.add_argument("--dropout", type=float, default=0.1)
  p.add_argument("--valid_users", type=int, default=2000, help="Users in the dropout valid loss.")
  p.add_argument("--rqvae_precision", default="both", choices=("float32", "float64", "both"),
                 help="RQ-VAE comparison precision; 'both' gates on float64 and reports float32 "
                      "with its row-order control run (the T5 comparison is float32).")
  p.add_argument("--threads", type=int, default=1, help="torch CPU threads.")
  p.add_argument("--embeddings", default=None,
                 help="[N, D] .npy item vectors (row = item index); default LSA of the item text.")
  p.add_argument("--json", default=None, help="Write the full report here.")
  args = p.parse_args(argv)

  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads)
  t_start = time.time()
  report, failures = {"args": vars(args)}, []
  ds = pdata.load_dataset(os.path.join(args.data_dir, args.dataset), args.dataset)
  if args.embeddings:
    x = np.load(args.embeddings).astype(np.float32)
    if x.shape[0] != len(ds.texts):
      raise ValueError(f"{args.embeddings}: {x.shape[0]} rows, dataset has {len(ds.texts)} items")
  else:
    x = pdata.lsa_vectors(ds.texts)
  print(f"{args.dataset}: {len(ds.texts)} items, {len(ds.sequences)} users; item vectors "
        f"{x.shape}; devices {jax.devices()}")

  # 1. RQ-VAE.
  cfg = prq.parity_config(steps=args.rqvae_steps)
  precisions = ["float64", "float32"] if args.rqvae_precision == "both" else [args.rqvae_precision]
  report["rqvae"] = {}
  for precision in precisions:
    rq = prq.run(x, cfg, precision, control=precision == "float32")
    rq_sum = rq.summary()
    report["rqvae"][precision] = dict(rq_sum, losses_jax=rq.losses_jax.tolist(),
                                      losses_torch=rq.losses_torch.tolist())
    print_loss_table(f"RQ-VAE ({precision}): gr_jax vs PyTorch reference", ("gr_jax", "torch"),
                     _rows(rq.losses_jax, rq.losses_torch, rq.loss_rel_diff, 25))
    print(f"RQ-VAE ({precision}): max loss rel diff {rq_sum['max_loss_rel_diff']:.1e} (step "
          f"{rq_sum['worst_step']}); equal codes {rq_sum['equal_codes']:.4f} (per level "
          f"{[round(v, 4) for v in rq_sum['equal_codes_per_level']]}); k-means init rel diff "
          f"{rq_sum['kmeans_rel_diff']:.1e}")
    if "control_max_loss_rel_diff" in rq_sum:
      print(f"  control, gr_jax vs gr_jax with each batch's rows reversed: max loss rel diff "
            f"{rq_sum['control_max_loss_rel_diff']:.1e}; equal codes "
            f"{rq_sum['control_equal_codes']:.4f}")
    if precision == precisions[0]:
      failures.append(prq.check(rq_sum))
      gate = rq

  codes, sizes, info = prq.unique_sids(gate, x, cfg)
  sids = pdata.sid_token_ids(codes, sizes)
  report["sids"] = dict(info, level_sizes=sizes)
  print(f"SIDs: levels {sizes}; collision rate before {info['collision_rate_before']:.3f}, "
        f"{info['reassigned']} items reassigned")

  # 2. T5 training, dropout 0.
  train = pdata.seqrec_examples(ds, sids, "train")
  order = pdata.batch_order(len(train), args.batch, args.steps, seed=0)
  vocab = pdata.vocab_size(sizes)
  model = pt5.make_model(vocab, args.size)
  params = model.init_params(jax.random.PRNGKey(0))
  opt = pt5.OptimizerSettings(warmup_steps=max(1, args.steps // 10))
  tp = pt5.train_parity(model, params, train, order, opt)
  t_sum = tp.summary()
  report["t5_train"] = dict(t_sum, losses_jax=tp.losses_jax.tolist(),
                            losses_hf=tp.losses_hf.tolist(), param_rel_diff=tp.param_rel_diff,
                            size=args.size, batch=args.batch, examples=len(train),
                            optimizer=dataclasses.asdict(opt))
  print_loss_table(f"T5 ({args.size}, batch {args.batch}, {len(train)} train examples): gr_jax vs "
                   "HF", ("gr_jax", "HF"), _rows(tp.losses_jax, tp.losses_hf, tp.loss_rel_diff, 50))
  print(f"T5: max loss rel diff {t_sum['max_loss_rel_diff']:.1e} (step {t_sum['worst_step']}); "
        f"params after {args.steps} steps: worst ||a-b||/||b|| {t_sum['max_param_rel_diff']:.1e} "
        f"({t_sum['worst_param']})")
  failures.append(pt5.check_train(t_sum))

  # 3. Decoding.
  test = pdata.seqrec_examples(ds, sids, "test")
  inputs = test.inputs[:args.users]
  report["decode"] = []
  print(f"\nDecoding: {len(inputs)} users, beam {args.beam}, top-{args.top_k}")
  print("| eos scored | same top-k (order) | same set | mismatched users | max score gap, "
        "mismatched | max score gap, matched | median adjacent gap |")
  print("|---|---:|---:|---:|---:|---:|---:|")
  for include_eos in (True, False):
    d = pt5.decode_parity(model, tp.params, tp.hf_model, inputs, sids, args.beam, args.top_k,
                          include_eos)
    report["decode"].append(d)
    print(f"| {include_eos} | {d['same_top_k']:.3f} | {d['same_set']:.3f} | "
          f"{d['mismatched_users']} | {d['max_score_gap_mismatched']:.1e} | "
          f"{d['max_score_gap_matched']:.1e} | {d['median_adjacent_score_gap']:.1e} |")
    failures.append(pt5.check_decode(d))

  # 4. Dropout.
  if args.seeds:
    valid_ds = pdata.Dataset(ds.name, ds.texts, ds.sequences[:args.valid_users])
    valid = pdata.seqrec_examples(valid_ds, sids, "validation")
    dr = pt5.dropout_runs(vocab, args.size, args.dropout, list(range(args.seeds)), train, valid,
                          order, opt)
    report["dropout"] = dr
    print(f"\nDropout {args.dropout}, {args.seeds} seeds, {args.steps} steps, valid loss on "
          f"{len(valid)} users:")
    print("| stack | per seed | mean ± std |")
    print("|---|---|---|")
    print(f"| gr_jax | {', '.join(f'{v:.4f}' for v in dr['jax'])} | {dr['mean_jax']:.4f} ± "
          f"{dr['std_jax']:.4f} |")
    print(f"| HF | {', '.join(f'{v:.4f}' for v in dr['hf'])} | {dr['mean_hf']:.4f} ± "
          f"{dr['std_hf']:.4f} |")
    print(f"difference {dr['difference']:+.4f}, 2 SE {dr['tolerance']:.4f}")
    failures.append(pt5.check_dropout(dr))

  failures = [f for f in failures if f]
  report["failures"] = failures
  report["wall_s"] = time.time() - t_start
  print(f"\nwall time {report['wall_s'] / 60:.1f} min")
  print("PASS" if not failures else "FAIL: " + "; ".join(failures))
  if args.json:
    io_utils.atomic_write_json(args.json, report)
  return 0 if not failures else 1


if __name__ == "__main__":
  sys.exit(main())
