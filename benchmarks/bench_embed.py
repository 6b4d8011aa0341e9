"""Throughput of the default embed encoders (Flax, jitted) vs PyTorch CPU on the same weights.

  python benchmarks/bench_embed.py [--texts 512] [--images 256] [--image-sizes 128,224]

Text: all-MiniLM-L6-v2 — gr_jax's Flax encoder (length-bucketed batches) vs
Hugging Face `transformers.BertModel` + mean pooling (length-sorted batches of
64, padded to the longest in the batch). Image: EfficientNet-Lite0 pooled
features — gr_jax's Flax model vs a PyTorch functional re-implementation that
runs the same folded weights (checked against Flax: cosine printed). Both
sides use every CPU this process may run on (torch.set_num_threads), run after
one warm-up (jit compile / first call), and alternate over `--repeats` rounds;
the median round is reported. The machine may be shared: compare the ratio
within one run, not absolute numbers across runs.

FLOP accounting (`gr_jax.perf`), the same count for both sides: text = the BERT
matmuls over each text's real word pieces (no padding); image = XLA's count of
the jitted EfficientNet-Lite0 feature extractor for one image. Each side gets its
achieved GFLOP/s and share of the fp32 matmul peak measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from gr_jax import perf

WORDS = ("stainless steel ceramic kettle mug skillet garden hose trowel headphones speaker "
         "notebook desk lamp premium compact everyday modern durable waterproof wireless "
         "lightweight ergonomic adjustable rechargeable portable set of two for home office "
         "kitchen outdoor travel gift easy to clean dishwasher safe").split()


def make_texts(n: int, seed: int = 0) -> list[str]:
  """Product-like texts: 6-12 word title + 15-60 word description."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    title = " ".join(rng.choice(WORDS, rng.integers(6, 13)))
    desc = " ".join(rng.choice(WORDS, rng.integers(15, 61)))
    out.append(f"{title}. {desc}.")
  return out


def _timed(fn) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def _rounds(named_fns: dict, repeats: int) -> dict:
  for fn in named_fns.values():  # Warm-up (compile / allocator).
    fn()
  times = {k: [] for k in named_fns}
  for _ in range(repeats):
    for k, fn in named_fns.items():
      times[k].append(_timed(fn))
  return {k: statistics.median(v) for k, v in times.items()}


def torch_minilm(texts: list[str], batch: int = 64):
  """Reference text encoder: transformers BertModel + mean pooling + L2 norm."""
  import torch
  import transformers
  from gr_jax.encoders import minilm
  model_dir = minilm.default_model_dir()
  tok = transformers.AutoTokenizer.from_pretrained(model_dir)
  model = transformers.BertModel.from_pretrained(model_dir).eval()
  order = sorted(range(len(texts)), key=lambda i: len(texts[i]))

  def run():
    out = np.zeros((len(texts), 384), np.float32)
    with torch.inference_mode():
      for s in range(0, len(order), batch):
        rows = order[s:s + batch]
        enc = tok([texts[i] for i in rows], padding=True, truncation=True, max_length=256,
                  return_tensors="pt")
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"][..., None].float()
        emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
        out[rows] = emb.numpy()
    return out
  return run


def torch_efficientnet(params: dict):
  """Reference image encoder: PyTorch functional EfficientNet-Lite0 on the folded Flax params."""
  import torch
  import torch.nn.functional as F
  from gr_jax.encoders import efficientnet_lite as E

  def tconv(p):  # flax [kh, kw, I, O] -> torch [O, I, kh, kw]
    return (torch.from_numpy(np.array(p["kernel"]).transpose(3, 2, 0, 1).copy()),
            torch.from_numpy(np.array(p["bias"])))

  def conv(x, p, stride=1, groups=1):
    w, b = p
    k = w.shape[-1]
    _, top, bottom = E.same_pad(x.shape[2], k, stride)
    _, left, right = E.same_pad(x.shape[3], k, stride)
    return F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride, groups=groups)

  pp = params["params"]
  stem, head = tconv(pp["stem"]), tconv(pp["head"])
  blocks = []
  for i, spec in enumerate(E.block_list()):
    bp = pp[f"block_{i}"]
    blocks.append((spec, tconv(bp["expand"]) if "expand" in bp else None,
                   tconv(bp["depthwise"]), tconv(bp["project"])))

  def forward(x_BxHxWx3: np.ndarray) -> np.ndarray:
    x = torch.from_numpy((x_BxHxWx3.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2)
    with torch.inference_mode():
      h = F.relu6(conv(x, stem, 2))
      for spec, exp, dw, proj in blocks:
        y = F.relu6(conv(h, exp)) if exp is not None else h
        y = F.relu6(conv(y, dw, spec.stride, groups=y.shape[1]))
        y = conv(y, proj)
        h = y + h if spec.stride == 1 and spec.in_ch == spec.out_ch else y
      feats = F.relu6(conv(h, head)).mean(dim=(2, 3))
      return F.normalize(feats, dim=-1).numpy()
  return forward


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--texts", type=int, default=256)
  parser.add_argument("--images", type=int, default=128)
  parser.add_argument("--image-sizes", default="128,224")
  parser.add_argument("--image-batch", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--peak_size", type=int, default=perf.PEAK_MATMUL_SIZE,
                      help="n of the n^3 fp32 matmul that measures the peak")
  parser.add_argument("--out", help="also write the results as JSON here")
  args = parser.parse_args(argv)

  import jax
  import torch
  from gr_jax.encoders import efficientnet_lite, minilm
  threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  torch.set_num_threads(threads)
  results = {"cpu_threads": threads, "jax": jax.__version__, "torch": torch.__version__,
             "devices": [str(d) for d in jax.devices()]}
  peak = perf.matmul_peak_gflops(args.peak_size)
  results["peak_gflops"] = peak
  print(f"fp32 matmul peak (jitted {args.peak_size}^3): {peak:.1f} GFLOP/s")

  def flop_reports(flops_per_item: float, n: int, seconds: dict) -> dict:
    reports = {k: perf.share_of_peak(flops_per_item, n / t, peak) for k, t in seconds.items()}
    for k, r in reports.items():
      print(perf.format_share(k, r, "item"))
    return reports

  texts = make_texts(args.texts)
  enc = minilm.get_encoder()
  ref_fn = torch_minilm(texts)
  cos = float(np.min((enc.encode(texts[:64]) * ref_fn()[:64]).sum(1)))
  t = _rounds({"flax": lambda: enc.encode(texts), "torch": ref_fn}, args.repeats)
  results["text"] = {"items": len(texts), "flax_items_per_s": len(texts) / t["flax"],
                     "torch_items_per_s": len(texts) / t["torch"],
                     "speedup_vs_torch": t["torch"] / t["flax"], "min_cosine_vs_torch": cos}
  print(f"text  MiniLM-L6 ({len(texts)} texts): flax {len(texts) / t['flax']:8.1f} items/s | "
        f"torch(transformers) {len(texts) / t['torch']:8.1f} items/s | "
        f"flax/torch = {t['torch'] / t['flax']:.2f}x | min cos {cos:.6f}")
  lengths = [len(ids) for ids in enc.tokenize(texts)]
  results["text"]["mean_tokens"] = float(np.mean(lengths))
  results["text"]["flops"] = flop_reports(perf.bert_flops(enc.config, lengths) / len(texts),
                                          len(texts), t)

  rng = np.random.default_rng(0)
  for size in [int(s) for s in args.image_sizes.split(",")]:
    imgs = rng.integers(0, 256, size=(args.images, size, size, 3), dtype=np.uint8)
    enc = efficientnet_lite.get_encoder(size, args.image_batch)
    ref = torch_efficientnet(enc.params)

    def run_torch():
      return np.concatenate([ref(imgs[s:s + args.image_batch])
                             for s in range(0, len(imgs), args.image_batch)])
    cos = float(np.min((enc.encode_arrays(imgs[:8])[0] * ref(imgs[:8])).sum(1)))
    t = _rounds({"flax": lambda: enc.encode_arrays(imgs), "torch": run_torch}, args.repeats)
    n = len(imgs)
    results[f"image_{size}"] = {"items": n, "flax_items_per_s": n / t["flax"],
                                "torch_items_per_s": n / t["torch"],
                                "speedup_vs_torch": t["torch"] / t["flax"],
                                "min_cosine_vs_torch": cos}
    print(f"image EfficientNet-Lite0 @{size} ({n} imgs, batch {args.image_batch}): "
          f"flax {n / t['flax']:8.1f} items/s | torch {n / t['torch']:8.1f} items/s | "
          f"flax/torch = {t['torch'] / t['flax']:.2f}x | min cos {cos:.6f}")
    features = lambda p, x: efficientnet_lite.EfficientNetLite().apply(
        p, efficientnet_lite.preprocess(x))[0]
    one = perf.compiled_flops(features, enc.params, imgs[:1])
    results[f"image_{size}"]["flops"] = flop_reports(one, n, t)
  if args.out:
    from gr_jax import io_utils
    io_utils.atomic_write_json(args.out, results)
  return results


if __name__ == "__main__":
  main()
