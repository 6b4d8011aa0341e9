"""Tests for gr_jax.enrich.runner: bounded threads, rate limit, failures, fatal abort."""

import dataclasses
import threading
import time

import pytest

from gr_jax.enrich import backends
from gr_jax.enrich import cache as cache_lib
from gr_jax.enrich import runner


@dataclasses.dataclass
class Job:
  item_id: str


class Worker:
  field = "caption"
  backend, model, prompt_version = "fake", "m", "v"

  def __init__(self, delay=0.0):
    self.delay, self.lock = delay, threading.Lock()
    self.active = self.max_active = 0
    self.seen = []

  def hash_inputs(self, job):
    return {"id": job.item_id}

  def __call__(self, job):
    with self.lock:
      self.active += 1
      self.max_active = max(self.max_active, self.active)
      self.seen.append(job.item_id)
    try:
      time.sleep(self.delay)
      if job.item_id.startswith("boom"):
        raise KeyError("unexpected bug")
      if job.item_id.startswith("fatal"):
        raise backends.FatalBackendError("bad credentials")
      if job.item_id.startswith("retry"):
        return runner.Outcome(value=f"cap {job.item_id}", attempts=3)
      return runner.Outcome(value=f"cap {job.item_id}")
    finally:
      with self.lock:
        self.active -= 1


def _cache(tmp_path):
  return cache_lib.Cache(str(tmp_path / "c.jsonl"), str(tmp_path / "a.jsonl"))


def test_threads_are_bounded_and_every_item_is_recorded(tmp_path):
  jobs = [Job(f"i{k:02d}") for k in range(20)] + [Job("boom1"), Job("retry1")]
  w, c = Worker(delay=0.02), _cache(tmp_path)
  counts, current = runner.run(jobs, w, c, concurrency=3, progress=False)
  assert 1 < w.max_active <= 3
  assert counts.done == 21 and counts.failed == 1 and counts.retried == 2
  assert counts.errors == {"KeyError": 1}
  assert set(current) == {j.item_id for j in jobs}
  assert c.get(current["boom1"])["error"].startswith("KeyError")
  assert c.get(current["i05"])["caption"] == "cap i05"
  w2 = Worker()
  counts, _ = runner.run(jobs, w2, _cache(tmp_path), concurrency=3, progress=False)
  assert counts.cached == 21 and counts.failed == 1 and w2.seen == ["boom1"]  # Only it is retried.


def test_rate_limit_spaces_requests(tmp_path):
  jobs = [Job(f"i{k}") for k in range(6)]
  t0 = time.monotonic()
  runner.run(jobs, Worker(), _cache(tmp_path), concurrency=3, max_rps=20, progress=False)
  assert time.monotonic() - t0 >= 5 / 20 * 0.9


@pytest.mark.parametrize("concurrency", [1, 2])
def test_fatal_error_aborts_and_keeps_finished_records(tmp_path, concurrency):
  jobs = [Job("a"), Job("b"), Job("fatal"), Job("c"), Job("d"), Job("e")]
  c = _cache(tmp_path)
  with pytest.raises(backends.FatalBackendError):
    runner.run(jobs, Worker(delay=0.01), c, concurrency=concurrency, progress=False)
  kept = {r["item_id"] for r in _cache(tmp_path).records.values()}
  assert {"a"} <= kept and "fatal" not in kept and "e" not in kept


def test_record_fields():
  out = runner.Outcome(error="malformed: x", attempts=2, extra={"raw": "zz"})
  rec = runner.make_record(Worker(), Job("a"), "h", "k", out)
  assert rec == {"item_id": "a", "caption": "", "status": "failed", "backend": "fake",
                 "model": "m", "prompt_version": "v", "key": "k", "content_hash": "h",
                 "attempts": 2, "raw": "zz", "error": "malformed: x"}


def test_circuit_breaker_stops_after_consecutive_failures(tmp_path):
  # 50 items that all fail: the run stops after 5 in a row instead of trying all 50.
  jobs = [Job(f"boom{k:02d}") for k in range(50)]
  w = Worker()
  with pytest.raises(backends.FatalBackendError, match="5 items in a row failed with fake 'm'"):
    runner.run(jobs, w, _cache(tmp_path), concurrency=1, progress=False,
               max_consecutive_failures=5)
  assert len(w.seen) == 5
  # A success resets the streak; 0 turns the breaker off.
  mixed = [Job(f"boom{k}") if k % 3 else Job(f"ok{k}") for k in range(12)]
  counts, _ = runner.run(mixed, Worker(), _cache(tmp_path / "b"), progress=False,
                         max_consecutive_failures=3)
  assert counts.failed == 8 and counts.done == 4
  counts, _ = runner.run(jobs, Worker(), _cache(tmp_path / "c"), progress=False,
                         max_consecutive_failures=0)
  assert counts.failed == 50
