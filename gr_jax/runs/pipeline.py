"""Resumable multi-stage runner and the stage builders shared by demo, ablate and real_data.

Each stage is a command line (run as a subprocess so gin/JAX state never leaks
between stages) plus a name. Finished stages are recorded atomically in
`<out>/pipeline_state.json`; rerunning after a kill skips them, and the stage
that was interrupted resumes through its own checkpoints/caches.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
from typing import Mapping, Optional, Sequence

from gr_jax import io_utils
from gr_jax import paths
from gr_jax.data import layout


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
    return io_utils.read_json_or_empty(self.state_path) or {"done": {}}

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


METHODS = ("tiger", "macrec", "trialign")
DATASET_NAME = "demo"
BASELINES = ("popularity", "sasrec", "markov")


@dataclasses.dataclass(frozen=True)
class Profile:
  """Sizes of one demo run."""
  items: int
  users: int
  train_steps: Mapping[str, int]
  eval_users: Optional[int] = None  # None: every test user.
  sasrec_epochs: Optional[int] = None  # None: SASRecConfig's default.
  gen_examples: int = 100  # Examples per generation task scored in the report.


PROFILES = {
    # The README's main job: <= 15 minutes on 2 CPU cores.
    "full": Profile(items=1000, users=2000,
                    train_steps={"tiger": 800, "macrec": 800, "trialign": 1200},
                    eval_users=1000, sasrec_epochs=20, gen_examples=100),
    # Tests and smoke runs.
    "quick": Profile(items=300, users=600,
                     train_steps={"tiger": 400, "macrec": 500, "trialign": 750},
                     eval_users=200, sasrec_epochs=10, gen_examples=20),
}


def data_stages(data_dir: str, prepare_args: Sequence[str]) -> list[Stage]:
  """prepare (`gr-jax prepare *prepare_args`, which writes data_dir) -> enrich -> embed."""
  return [
      Stage("prepare", gr_jax_command("prepare", *prepare_args),
            produces=os.path.join(data_dir, layout.STATS)),
      Stage("enrich", gr_jax_command("enrich", "--data", data_dir),
            produces=layout.enrich_path(data_dir, layout.INTERESTS)),
      Stage("embed", gr_jax_command("embed", "--data", data_dir),
            produces=layout.embeddings_path(data_dir, layout.FUSED)),
  ]


def collab_stage(data_dir: str, seed: int, epochs: Optional[int] = None) -> Stage:
  """SASRec item embeddings of the train split -> DIR/embeddings/collab.npy (collaborative SIDs)."""
  argv = ["collab-embed", "--data", data_dir, "--seed", str(seed), "--no_progress"]
  if epochs:
    argv += ["--epochs", str(int(epochs))]
  return Stage("collab-embed", gr_jax_command(*argv),
               produces=layout.embeddings_path(data_dir, layout.COLLAB_INFO))


# Tokenizer bindings of the collaborative-SID variant of any method (after `collab_stage`).
COLLAB_BINDINGS = ("TokenizerConfig.collaborative='concat'",)

_COLLAB_LINE = re.compile(r"^\s*TokenizerConfig\.collaborative\s*=\s*['\"](\w+)['\"]", re.M)

# `gr-jax demo` tokenizers other than gin/rqvae/demo_<method>.gin (the ablations and the
# real-data runs keep those): TriAlignGR's demo SIDs are collaborative (see the gin file).
DEMO_TOKENIZER_GIN = {"trialign": "rqvae/demo_trialign_collab.gin"}


def content_tokenizer_gin(method: str) -> str:
  """`rqvae/demo_<method>.gin`: the method's content-only small-catalog tokenizer."""
  return f"rqvae/demo_{method}.gin"


def demo_tokenizer_gin(method: str) -> str:
  """The tokenizer gin file `gr-jax demo` uses for `method`."""
  return DEMO_TOKENIZER_GIN.get(method, content_tokenizer_gin(method))


def tokenizer_gin_is_collaborative(gin_file: str) -> bool:
  """True when the tokenizer gin file (relative to gin/) binds `TokenizerConfig.collaborative`.

  Such a tokenizer reads DIR/embeddings/collab.npy, so `collab_stage` must run before it.
  Only the file's own lines are read (not its includes); the last binding wins, as in gin.
  """
  with open(os.path.join(paths.GIN_DIR, gin_file)) as f:
    modes = _COLLAB_LINE.findall(f.read())
  return bool(modes) and modes[-1] != "none"


def tokenize_stage(data_dir: str, method: str, seed: int, run: Optional[str] = None,
                   gin_bindings: Sequence[str] = (), name: Optional[str] = None,
                   gin_file: Optional[str] = None) -> Stage:
  """One RQ-VAE run (`gin_file`, default rqvae/demo_<method>.gin) -> DIR/tokenizer/<run>/sids.json.

  Gin files are named relative to the repo's gin/ folder, which `gr-jax tokenize` and
  `gr-jax train` search (includes inside them resolve the same way).
  """
  run = run or method
  argv = ["tokenize", "--data", data_dir,
          "--gin_file", gin_file or content_tokenizer_gin(method),  # Found via gin/.
          "--seed", str(seed)]
  if run != method:
    argv += ["--run", run]
  argv += [f"--gin.{b}" for b in gin_bindings]
  return Stage(name or f"tokenize:{run}", gr_jax_command(*argv),
               produces=layout.sids_path(data_dir, run))


def train_stage(data_dir: str, model_dir: str, method: str, steps: int, seed: int,
                tokenizer_run: Optional[str] = None, gin_bindings: Sequence[str] = (),
                name: Optional[str] = None) -> Stage:
  """One T5 run (`gin/demo/<method>.gin`) -> MODEL_DIR/run_info.json."""
  argv = ["train", "--gin_file", f"demo/{method}.gin",
          f"--gin.MODEL_DIR='{model_dir}'", f"--gin.DATA_DIR='{data_dir}'",
          f"--gin.DATASET_NAME='{DATASET_NAME}'", f"--gin.TRAIN_STEPS={int(steps)}",
          f"--gin.SEED={int(seed)}"]
  if tokenizer_run and tokenizer_run != method:
    argv.append(f"--gin.TOKENIZER_RUN='{tokenizer_run}'")
  argv += [f"--gin.{b}" for b in gin_bindings]
  return Stage(name or f"train:{os.path.basename(model_dir)}", gr_jax_command(*argv),
               produces=os.path.join(model_dir, layout.RUN_INFO))


def evaluate_stage(model_dir: str, profile: Profile, baselines: Sequence[str] = (),
                   name: Optional[str] = None, tsne: str = "pca") -> Stage:
  """Full-ranking test evaluation -> MODEL_DIR/eval/test/report.json."""
  argv = ["evaluate", "--model_dir", model_dir, "--split", "test",
          "--baselines", ",".join(baselines), "--max_gen_examples", str(profile.gen_examples),
          "--tsne", tsne]
  if profile.eval_users:
    argv += ["--max_users", str(profile.eval_users)]
  if profile.sasrec_epochs:
    argv += ["--sasrec_epochs", str(profile.sasrec_epochs)]
  return Stage(name or f"evaluate:{os.path.basename(model_dir)}", gr_jax_command(*argv),
               produces=layout.eval_report_path(model_dir, "test"))


def ceiling_stage(data_dir: str, profile: Profile, samples: int = 512) -> Stage:
  """Bayes ceilings of the synthetic test split (the evaluated users) -> DATA/ceiling/test.json."""
  out = layout.ceiling_path(data_dir, "test")
  argv = [sys.executable, "-m", "gr_jax.data.synthetic_ceiling", "--data", data_dir,
          "--split", "test", "--samples", str(samples), "--json", out]
  if profile.eval_users:
    argv += ["--max_users", str(profile.eval_users)]
  return Stage("ceiling", argv, produces=out)


def diagnose_stage(model_dir: str, profile: Profile, baseline_cache: Optional[str] = None) -> Stage:
  """`gr-jax diagnose` on the test split -> MODEL_DIR/eval/test/diagnose/diagnose.json."""
  argv = ["diagnose", "--model_dir", model_dir, "--split", "test"]
  if profile.eval_users:
    argv += ["--max_users", str(profile.eval_users)]
  if profile.sasrec_epochs:
    argv += ["--sasrec_epochs", str(profile.sasrec_epochs)]
  if baseline_cache:
    argv += ["--baseline_cache", baseline_cache]
  return Stage(f"diagnose:{os.path.basename(model_dir)}", gr_jax_command(*argv),
               produces=os.path.join(model_dir, layout.EVAL_DIR, "test", "diagnose", "diagnose.json"))


def parse_methods(text: str) -> list[str]:
  """'tiger,macrec' -> ['tiger', 'macrec'] (unknown names are an error)."""
  methods = [m.strip() for m in text.split(",") if m.strip()]
  unknown = sorted(set(methods) - set(METHODS))
  if unknown or not methods:
    raise SystemExit(f"--methods: unknown or empty {unknown or text!r}; choose from {list(METHODS)}")
  return methods
