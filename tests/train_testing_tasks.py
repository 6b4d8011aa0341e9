"""Trainer test helpers: tiny seqio copy/reverse tasks over bytes; a scoped XLA compilation cache."""

import contextlib
import random

import jax
from jax.experimental.compilation_cache import compilation_cache as cc
import seqio
import tensorflow as tf

VOCAB = seqio.ByteVocabulary()
ALPHABET = "abcdefgh"
MIXTURE = "gr_test_mix"
TASKS = ("gr_test_copy", "gr_test_reverse")
FEATURE_LENGTHS = {"inputs": 16, "targets": 10}


def examples(kind: str, split: str, n: int):
  """Deterministic (input, target) string pairs; validation strings never occur in train."""
  rng = random.Random(f"{kind}-{split}")
  out = []
  while len(out) < n:
    s = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(3, 8)))
    if (hash_split(s) == "validation") != (split == "validation"):
      continue
    out.append((f"{kind}: {s}", s if kind == "copy" else s[::-1]))
  return out


def hash_split(s: str) -> str:
  return "validation" if sum(map(ord, s)) % 7 == 0 else "train"


def _dataset_fn(kind):
  def fn(split, shuffle_files=False, seed=None):
    del shuffle_files, seed
    pairs = examples(kind, split, 3000 if split == "train" else 64)
    return tf.data.Dataset.from_tensor_slices(
        {"inputs": [p[0] for p in pairs], "targets": [p[1] for p in pairs]})
  return fn


def register() -> str:
  """Registers the two tasks and their uniform mixture (idempotent); returns the mixture name."""
  features = {"inputs": seqio.Feature(VOCAB, add_eos=True),
              "targets": seqio.Feature(VOCAB, add_eos=True)}
  for name, kind in zip(TASKS, ("copy", "reverse")):
    if name in seqio.TaskRegistry.names():
      continue
    seqio.TaskRegistry.add(
        name, source=seqio.FunctionDataSource(_dataset_fn(kind), splits=["train", "validation"]),
        preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim],
        output_features=features)
  if MIXTURE not in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.add(MIXTURE, [(t, 1.0) for t in TASKS])
  return MIXTURE


register()


@contextlib.contextmanager
def compilation_cache(path: str):
  """Persistent XLA compilation cache at `path` while inside (identical train steps compile once)."""
  old = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs,
         jax.config.jax_persistent_cache_min_entry_size_bytes)
  jax.config.update("jax_compilation_cache_dir", str(path))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  cc.reset_cache()
  try:
    yield
  finally:
    jax.config.update("jax_compilation_cache_dir", old[0])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", old[1])
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", old[2])
    cc.reset_cache()
