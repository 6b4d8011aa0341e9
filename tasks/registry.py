"""Registers a dataset directory's tasks and its uniform mixture with seqio."""

from __future__ import annotations

import functools
import logging
import os
import re
from typing import Callable, Mapping, Optional, Sequence

import gin
import seqio

from gr_jax import text_vocab as vocab_lib
from gr_jax.data import layout
from gr_jax_tasks import macrec
from gr_jax_tasks import prompts
from gr_jax_tasks import sources
from gr_jax_tasks import tiger
from gr_jax_tasks import trialign
from gr_jax_tasks import trim

METHODS = {"trialign": trialign, "macrec": macrec, "tiger": tiger}
DATASETS_ENV = "GR_JAX_DATASETS"  # "name=dir:method,name2=dir2:method2"
DEMO_ENV = "GR_JAX_DEMO_DIR"  # Dataset dir of `gr-jax demo`, registered as "demo" for every method.
_CONFIGS: dict[str, sources.DatasetConfig] = {}  # mixture and task names -> config


def _method(method: str):
  if method not in METHODS:
    raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
  return METHODS[method]


def task_names(method: str) -> list[str]:
  """Short task names of a method, e.g. ["seqrec", "seqrec_title", ...] for trialign."""
  return list(_method(method).TASKS)


def seqrec_task_names(method: str) -> list[str]:
  """Tasks whose targets are next-item SIDs (what the evaluator decodes), e.g. macrec ->
  ["seqrec_text", "seqrec_image"]; `seqrec_modalities` gives each one's SID modality."""
  return list(_method(method).SEQREC)


def seqrec_modalities(method: str) -> dict[str, str]:
  """{seqrec task: modality of its target SIDs}, e.g. {"seqrec_text": "text", ...}."""
  return dict(_method(method).SEQREC)


def task_name(method: str, dataset: str, task: str) -> str:
  """Registered name `<method>_<dataset>_<task>`."""
  return f"{method}_{dataset}_{task}"


def mixture_name(method: str, dataset: str) -> str:
  """Registered name `<method>_<dataset>`."""
  return f"{method}_{dataset}"


def dataset_config(name: str) -> sources.DatasetConfig:
  """The config a registered mixture or task was built from (data_dir, method, run, ...)."""
  return _CONFIGS[name]


def vocabulary(name: str) -> vocab_lib.GrVocabulary:
  """The vocabulary of a registered mixture or task."""
  return seqio.get_mixture_or_task(name).output_features["targets"].vocabulary


def exact_match(targets: Sequence[str], predictions: Sequence[str]) -> dict:
  """seqio metric: percentage of predictions equal to the target text."""
  hits = sum(t == p for t, p in zip(targets, predictions))
  return {"exact_match": 100.0 * hits / max(1, len(targets))}


@functools.lru_cache(maxsize=512)
def _examples_for_view(view: sources.DatasetView, cfg: sources.DatasetConfig, task: str,
                       split: str) -> list[dict]:
  return METHODS[cfg.method].build(view, cfg, task, split)


def examples(cfg: sources.DatasetConfig, task: str, split: str) -> list[dict]:
  """Examples (string dicts) of one task and split, rebuilt when the dataset files change."""
  if split not in sources.SPLITS:
    raise ValueError(f"unknown split {split!r}; expected one of {sources.SPLITS}")
  return _examples_for_view(sources.load_view(cfg.data_dir, cfg.tokenizer_run), cfg, task, split)


def _remove(name: str) -> None:
  if name in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove(name)
  if name in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove(name)


def register_dataset(name: str, data_dir: str, method: str = "trialign",
                     tokenizer_run: Optional[str] = None, drop_tasks: Sequence[str] = (),
                     caption_noise: float = 0.0, prompt_variants: bool = True, seed: int = 0,
                     max_history: int = layout.MAX_HISTORY, *, sp_vocab_size: int = vocab_lib.DEFAULT_SP_VOCAB_SIZE,
                     task_rates: Optional[Mapping[str, float]] = None,
                     item_eval_size: int = sources.DEFAULT_ITEM_EVAL_SIZE,
                     compact_history: bool = False,
                     build_vocab: bool = False,
                     seqrec_metric_fns: Optional[Sequence[Callable]] = None) -> str:
  """Registers `<method>_<name>_<task>` Tasks and the `<method>_<name>` Mixture; returns its name.

  Tasks with no training examples in this dataset (e.g. caption tasks before
  `gr-jax enrich`) are left out of the mixture with a warning. The mixture
  samples its tasks uniformly unless `task_rates` ({task: rate}) says otherwise.
  The vocabulary (`DIR/vocab/<tokenizer_run>/`) is built on first use, or now
  with `build_vocab`. Re-registering a name replaces it. The next-item SID tasks
  get `seqrec_metric_fns` (default `exact_match`; T5X runs pass the beam ranking
  of `gr_jax.evaluate`), the others `exact_match`. With `compact_history` the tasks that read a
  history take its SID tokens alone (TIGER's input form), trimmed to the most recent items
  (`gr_jax_tasks.trim`) instead of seqio's keep-the-start trim.
  """
  module = _method(method)
  if not re.fullmatch(r"[\w.]+", name):
    raise ValueError(f"dataset name {name!r}: use letters, digits, '_' and '.' only")
  unknown = set(drop_tasks) - set(module.TASKS)
  if unknown:
    raise ValueError(f"drop_tasks {sorted(unknown)} are not {method} tasks {module.TASKS}")
  if not 0.0 <= caption_noise <= 1.0:
    raise ValueError(f"caption_noise must be in [0, 1], got {caption_noise}")
  unknown = set(task_rates or {}) - set(module.TASKS)
  if unknown:
    raise ValueError(f"task_rates names unknown tasks {sorted(unknown)}")
  tokenizer_run = tokenizer_run or method
  data_dir = os.path.abspath(data_dir)
  cfg = sources.DatasetConfig(
      name=name, data_dir=data_dir, method=method, tokenizer_run=tokenizer_run,
      drop_tasks=tuple(sorted(drop_tasks)), caption_noise=float(caption_noise),
      prompt_variants=bool(prompt_variants), seed=int(seed), max_history=int(max_history),
      item_eval_size=int(item_eval_size), compact_history=bool(compact_history))

  vocab_dir = layout.vocab_dir(data_dir, tokenizer_run)
  builder = functools.partial(vocab_lib.build_vocabulary, data_dir, tokenizer_run, sp_vocab_size,
                              extra_text=prompts.vocabulary_text())
  if build_vocab:
    builder()
  vocab = vocab_lib.GrVocabulary(vocab_dir, builder=builder)
  output_features = {
      "inputs": seqio.Feature(vocabulary=vocab, add_eos=True),
      "targets": seqio.Feature(vocabulary=vocab, add_eos=True),
  }

  mixture = mixture_name(method, name)
  entries, sizes = [], {}
  for task in module.TASKS:
    full = task_name(method, name, task)
    _remove(full)
    if task in cfg.drop_tasks:
      continue
    sizes[task] = len(examples(cfg, task, "train"))
    if not sizes[task]:
      logging.warning("%s: no training examples in %s; left out of %s", full, data_dir, mixture)
      continue
    metric_fns = list(seqrec_metric_fns or [exact_match]) if task in module.SEQREC else [exact_match]
    preprocessors = [seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim]
    if cfg.compact_history and prompts.takes_history(task):
      preprocessors.insert(1, trim.trim_inputs_keep_recent)
    seqio.TaskRegistry.add(
        full, source=sources.ExamplesSource(functools.partial(examples, cfg, task)),
        preprocessors=preprocessors,
        output_features=output_features, metric_fns=metric_fns)
    _CONFIGS[full] = cfg
    entries.append((full, float((task_rates or {}).get(task, 1.0))))
  if not entries:
    raise ValueError(f"{data_dir}: no {method} task has training examples")
  _remove(mixture)
  seqio.MixtureRegistry.add(mixture, entries)
  _CONFIGS[mixture] = cfg
  sources.log_sizes(cfg, sizes)
  return mixture


def parse_dataset_specs(text: str) -> list[dict]:
  """Parses "name=dir:method,name2=dir2" (method defaults to trialign) into kwargs dicts."""
  out = []
  for spec in filter(None, (s.strip() for s in text.split(","))):
    if "=" not in spec:
      raise ValueError(f"dataset spec {spec!r}: expected name=dir[:method]")
    name, rest = spec.split("=", 1)
    head, _, tail = rest.rpartition(":")
    if head and tail in METHODS:
      out.append({"name": name.strip(), "data_dir": head, "method": tail})
    else:
      out.append({"name": name.strip(), "data_dir": rest, "method": "trialign"})
  return out


@gin.configurable(module="gr_jax_tasks")
def configured_datasets(datasets: Sequence = ()) -> list[dict]:
  """Gin hook: `gr_jax_tasks.configured_datasets.datasets = ["sci=/data/sci:macrec", {...}]`."""
  out = []
  for d in datasets:
    out.extend(parse_dataset_specs(d) if isinstance(d, str) else [dict(d)])
  return out


def register_configured(raise_errors: bool = True) -> list[str]:
  """Registers the demo (`$GR_JAX_DEMO_DIR`), `$GR_JAX_DATASETS` and gin-bound datasets."""
  specs = []
  demo = os.environ.get(DEMO_ENV)
  if demo:
    specs += [{"name": "demo", "data_dir": demo, "method": m} for m in METHODS
              if os.path.exists(layout.sids_path(demo, m))]
  specs += parse_dataset_specs(os.environ.get(DATASETS_ENV, ""))
  specs += configured_datasets()
  names = []
  for spec in specs:
    try:
      names.append(register_dataset(**spec))
    except (OSError, ValueError, KeyError) as e:
      if raise_errors:
        raise
      logging.error("could not register dataset %s: %s", spec, e)
  return names
