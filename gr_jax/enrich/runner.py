"""Runs caption/interest workers over items: cache skip, bounded threads, rate limit, progress, records."""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import threading
import time
from typing import Any, Callable, Protocol, Sequence

import tqdm

from gr_jax.enrich import backends
from gr_jax.enrich import cache as cache_lib

MAX_ERROR_CHARS = 300


@dataclasses.dataclass
class Outcome:
  """Result of one item: a value (caption or tags) or an error."""
  value: Any = None
  attempts: int = 1
  error: str = ""
  permanent: bool = False      # a failure a rerun would repeat (e.g. no image, no text cues)
  extra: dict = dataclasses.field(default_factory=dict)  # fields copied into the record

  @property
  def ok(self) -> bool:
    return self.value is not None and not self.error


class Worker(Protocol):
  """A captioner or interest miner."""
  backend: str
  model: str
  prompt_version: str
  field: str  # "caption" or "interests"

  def hash_inputs(self, job) -> dict:
    ...

  def __call__(self, job) -> Outcome:
    ...


@dataclasses.dataclass
class Counts:
  """What a run did; `retried` counts extra requests (HTTP retries + answer re-asks)."""
  total: int = 0
  cached: int = 0
  done: int = 0
  failed: int = 0
  retried: int = 0
  seconds: float = 0.0
  by_image: dict = dataclasses.field(default_factory=dict)
  errors: dict = dataclasses.field(default_factory=dict)

  def to_json(self) -> dict:
    out = dataclasses.asdict(self)
    out["items_per_s"] = round(self.done_or_failed / self.seconds, 3) if self.seconds else None
    return out

  @property
  def done_or_failed(self) -> int:
    return self.done + self.failed


class RateLimiter:
  """Spaces calls at least 1/max_rps seconds apart across threads (0 = unlimited)."""

  def __init__(self, max_rps: float = 0.0):
    self._interval = 1.0 / max_rps if max_rps and max_rps > 0 else 0.0
    self._lock = threading.Lock()
    self._next = 0.0

  def wait(self) -> None:
    if not self._interval:
      return
    with self._lock:
      now = time.monotonic()
      start = max(now, self._next)
      self._next = start + self._interval
    if start > now:
      time.sleep(start - now)


def job_key(worker: Worker, job) -> tuple[str, str]:
  """(content hash, cache key) of one job for this worker."""
  chash = cache_lib.content_hash(worker.hash_inputs(job))
  return chash, cache_lib.record_key(job.item_id, chash, worker.backend, worker.model,
                                     worker.prompt_version)


def make_record(worker: Worker, job, chash: str, key: str, outcome: Outcome) -> dict:
  """The JSONL record of one finished item (ok or failed)."""
  rec = {"item_id": job.item_id,
         worker.field: outcome.value if outcome.ok else ("" if worker.field == "caption" else []),
         "status": "ok" if outcome.ok else "failed",
         "backend": worker.backend, "model": worker.model,
         "prompt_version": worker.prompt_version, "key": key, "content_hash": chash,
         "attempts": outcome.attempts}
  rec.update(outcome.extra)
  if not outcome.ok:
    rec["error"] = (outcome.error or "no answer")[:MAX_ERROR_CHARS]
    if outcome.permanent:
      rec["permanent"] = True
  return rec


def _safe_call(worker: Worker, job, limiter: RateLimiter) -> Outcome:
  limiter.wait()
  try:
    return worker(job)
  except backends.FatalBackendError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # One bad item must not end a long run; the failure is recorded and retried on rerun.
    return Outcome(error=f"{type(e).__name__}: {e}")


DEFAULT_MAX_CONSECUTIVE_FAILURES = 10


def describe(worker: Worker) -> str:
  """'backend model at URL' of a worker (the URL of an HTTP client; never a key)."""
  url = getattr(getattr(worker, "client", None), "url", None)
  return f"{worker.backend} {worker.model!r}" + (f" at {url}" if url else "")


def run(jobs: Sequence, worker: Worker, cache: cache_lib.Cache, concurrency: int = 1,
        max_rps: float = 0.0, retry_failed: bool = True, desc: str = "enrich",
        progress: bool = True, on_record: Callable[[dict], None] | None = None,
        prepare: Callable[[list], None] | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES
        ) -> tuple[Counts, dict[str, str]]:
  """Processes the jobs not already in `cache`, appending one record per finished item.

  A circuit breaker raises FatalBackendError after `max_consecutive_failures` items in
  a row failed for a reason a rerun could fix (0: never), so a dead server costs
  seconds, not a retry cycle per item; finished records are kept.

  Returns (counts, {item_id: key}) where the mapping covers every job (for
  `Cache.compact`). Records are appended from this thread only, in completion
  order, each fsynced, so a kill loses only in-flight items. `prepare`, if
  given, is called once with the jobs that will run (e.g. to batch-compute
  object words for uncached items only).
  """
  counts = Counts(total=len(jobs))
  current, pending = {}, []
  for job in jobs:
    chash, key = job_key(worker, job)
    current[job.item_id] = key
    if cache.is_done(key, retry_failed):
      counts.cached += 1
    else:
      pending.append((job, chash, key))
  if prepare is not None and pending:
    prepare([job for job, _, _ in pending])
  limiter = RateLimiter(max_rps)
  errors = collections.Counter()
  by_image = collections.Counter()
  bar = tqdm.tqdm(total=len(jobs), initial=counts.cached, desc=desc, unit="item",
                  disable=not progress, dynamic_ncols=True, mininterval=0.5)

  streak = [0]

  def finish(job, chash, key, outcome: Outcome):
    rec = make_record(worker, job, chash, key, outcome)
    cache.append(rec)
    if on_record is not None:
      on_record(rec)
    counts.retried += max(0, outcome.attempts - 1)
    if outcome.ok:
      counts.done += 1
    else:
      counts.failed += 1
      errors[outcome.error.split(":", 1)[0][:60]] += 1
    if "image" in outcome.extra:
      by_image[outcome.extra["image"]] += 1
    bar.update(1)
    streak[0] = 0 if outcome.ok or outcome.permanent else streak[0] + 1
    if max_consecutive_failures and streak[0] >= max_consecutive_failures:
      raise backends.FatalBackendError(
          f"{streak[0]} items in a row failed with {describe(worker)}; stopped "
          f"(last: {rec['error'][:160]})")
    bar.set_postfix(done=counts.done, failed=counts.failed, retried=counts.retried,
                    cached=counts.cached, refresh=False)

  start = time.monotonic()
  try:
    if concurrency <= 1:
      for job, chash, key in pending:
        finish(job, chash, key, _safe_call(worker, job, limiter))
    else:
      with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        queue = iter(pending)
        in_flight = {}
        for entry in queue:
          in_flight[pool.submit(_safe_call, worker, entry[0], limiter)] = entry
          if len(in_flight) >= concurrency:
            break
        try:
          while in_flight:
            finished, _ = concurrent.futures.wait(
                in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
            for fut in finished:
              job, chash, key = in_flight.pop(fut)
              finish(job, chash, key, fut.result())
              nxt = next(queue, None)
              if nxt is not None:
                in_flight[pool.submit(_safe_call, worker, nxt[0], limiter)] = nxt
        except BaseException:
          for fut in in_flight:
            fut.cancel()
          raise
  finally:
    counts.seconds = round(time.monotonic() - start, 3)
    counts.errors, counts.by_image = dict(errors), dict(by_image)
    bar.close()
  return counts, current
