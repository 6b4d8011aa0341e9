"""Resumable multi-stage runner shared by `gr-jax demo`, `gr-jax ablate` and real-data scripts.

Each stage is a command line (run as a subprocess so gin/JAX state never leaks
between stages) plus a name. Finished stages are recorded atomically in
`<out>/pipeline_state.json`; rerunning after a kill skips them, and the stage
that was interrupted resumes through its own checkpoints/caches.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Sequence

from gr_jax import io_utils


@dataclasses.dataclass
class Stage:
  """One step of a pipeline: a name, a command, and the file it must produce."""
  name: str
  argv: Sequence[str]
  produces: str | None = None  # A file that must exist afterwards.
  env: dict | None = None


class StageFailed(RuntimeError):
  """A stage's command exited non-zero."""


class Pipeline:
  """Runs stages in order, skipping those recorded as done."""

  def __init__(self, out_dir: str, log=print):
    self.out_dir = os.path.abspath(out_dir)
    self.state_path = os.path.join(out_dir, "pipeline_state.json")
    self.log = log
    os.makedirs(out_dir, exist_ok=True)
    self.state = self._load()

  def _load(self) -> dict:
    if os.path.exists(self.state_path):
      with open(self.state_path, encoding="utf-8") as f:
        return json.load(f)
    return {"done": {}}

  def done(self, name: str, argv: Sequence[str] | None = None) -> bool:
    """Whether `name` finished earlier (with the same command line, when `argv` is given)."""
    entry = self.state["done"].get(name)
    if entry is None:
      return False
    return argv is None or entry.get("argv") in (None, list(argv))

  def seconds(self, name: str) -> float | None:
    """Wall time the stage took when it ran (None if not done)."""
    entry = self.state["done"].get(name)
    return None if entry is None else entry["seconds"]

  def run(self, stage: Stage, index: int, total: int) -> float:
    """Runs one stage unless already done; returns its wall time in seconds."""
    prefix = f"[{index}/{total}] {stage.name}"
    if stage.name in self.state["done"] and not self.done(stage.name, stage.argv):
      self.log(f"{prefix}: command changed since it last ran, running it again")
    if self.done(stage.name, stage.argv) and (stage.produces is None or os.path.exists(stage.produces)):
      self.log(f"{prefix}: done earlier ({self.seconds(stage.name):.1f}s), skipping")
      return self.seconds(stage.name)
    self.log(f"{prefix}: {' '.join(stage.argv)}")
    start = time.time()
    env = dict(os.environ, **(stage.env or {}))
    # Stages run inside out_dir: gin resolves `include 'demo/x.gin'` by first trying an
    # importable package named 'demo', and a folder of that name in the caller's cwd
    # would shadow the repo's gin/ search path.
    result = subprocess.run(list(stage.argv), env=env, cwd=self.out_dir)
    if result.returncode != 0:
      raise StageFailed(f"stage '{stage.name}' failed with exit code {result.returncode}: "
                        f"{' '.join(stage.argv)}")
    if stage.produces is not None and not os.path.exists(stage.produces):
      raise StageFailed(f"stage '{stage.name}' finished but did not write {stage.produces}")
    seconds = time.time() - start
    self.state["done"][stage.name] = {"seconds": seconds, "finished": time.time(),
                                      "argv": list(stage.argv)}
    io_utils.atomic_write_json(self.state_path, self.state)
    self.log(f"{prefix}: finished in {seconds:.1f}s")
    return seconds

  def run_all(self, stages: Sequence[Stage]) -> dict[str, float]:
    """Runs every stage; returns {name: seconds}."""
    return {s.name: self.run(s, i, len(stages)) for i, s in enumerate(stages, start=1)}


def gr_jax_command(*args: str) -> list[str]:
  """argv that runs a `gr-jax` subcommand with this interpreter."""
  return [sys.executable, "-m", "gr_jax.cli", *args]
