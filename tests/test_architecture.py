"""The package structure of ARCHITECTURE.md: imports follow the stage order, each fact has one owner."""

import ast
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Floors, lowest first: a module may import modules of its own floor or below, never above.
FLOORS = (
    ("base", ("gr_jax", "gr_jax.io_utils", "gr_jax.paths", "gr_jax.flags", "gr_jax.gin_flags",
              "gr_jax.data.layout", "gr_jax.perf")),
    ("data", ("gr_jax.data",)),
    ("encoders", ("gr_jax.encoders",)),
    ("enrich", ("gr_jax.enrich",)),
    ("embed", ("gr_jax.embed",)),
    ("tokenize", ("gr_jax.rqvae",)),
    ("vocab", ("gr_jax.text_vocab",)),
    ("tasks", ("gr_jax_tasks",)),
    ("train", ("gr_jax.model", "gr_jax.partitioning", "gr_jax.decoding", "gr_jax.train_data",
               "gr_jax.train")),
    ("evaluate", ("gr_jax.evaluate", "gr_jax.recommend", "gr_jax.baselines", "gr_jax.reports",
                  "gr_jax.inspect_mixture", "gr_jax.t5x_gin", "gr_jax.parity")),
    ("runs", ("gr_jax.runs", "gr_jax.reproduce")),
    ("cli", ("gr_jax.cli",)),
)


def _modules() -> dict[str, str]:
  """{module name: path} of every module of gr_jax/ and tasks/ (as gr_jax_tasks)."""
  out = {}
  for root_dir, package in (("gr_jax", "gr_jax"), ("tasks", "gr_jax_tasks")):
    for dirpath, _, files in os.walk(os.path.join(REPO, root_dir)):
      for f in files:
        if not f.endswith(".py"):
          continue
        rel = os.path.relpath(os.path.join(dirpath, f), os.path.join(REPO, root_dir))[:-3]
        parts = [package] + [p for p in rel.split(os.sep) if p != "__init__"]
        out[".".join(parts)] = os.path.join(dirpath, f)
  return out


MODULES = _modules()


def floor(module: str) -> int:
  """Index in FLOORS of the longest matching prefix."""
  best, index = -1, None
  for i, (_, prefixes) in enumerate(FLOORS):
    for p in prefixes:
      if (module == p or module.startswith(p + ".")) and len(p) > best:
        best, index = len(p), i
  if index is None:
    raise AssertionError(f"{module} is on no floor: add it to FLOORS and ARCHITECTURE.md")
  return index


def imports(module: str) -> set[str]:
  """In-repo modules `module` imports anywhere (top level or inside functions)."""
  tree = ast.parse(open(MODULES[module], encoding="utf-8").read())
  is_package = MODULES[module].endswith("__init__.py")
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        anchor = module.split(".")[:len(module.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join(anchor + ([base] if base else []))
      names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    else:
      continue
    for name in names:
      while name and name not in MODULES:
        name = name.rpartition(".")[0]
      if name and name != module:
        out.add(name)
  return out


GRAPH = {m: imports(m) for m in MODULES}


def test_every_module_is_on_a_floor():
  for m in MODULES:
    floor(m)


def test_no_import_runs_against_the_stage_order():
  back = [f"{m} ({FLOORS[floor(m)][0]}) imports {d} ({FLOORS[floor(d)][0]})"
          for m, deps in sorted(GRAPH.items()) for d in sorted(deps) if floor(d) > floor(m)]
  assert not back, "back-edges:\n" + "\n".join(back)


def test_no_import_cycles():
  index, low, stack, on_stack, cycles = {}, {}, [], set(), []

  def visit(v):  # Tarjan's strongly connected components.
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in GRAPH[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        cycles.append(sorted(component))

  for v in sorted(GRAPH):
    if v not in index:
      visit(v)
  assert not cycles, f"import cycles: {cycles}"


def _code_strings(path: str) -> list[tuple[int, str]]:
  """(line, value) of string constants that are not docstrings."""
  tree = ast.parse(open(path, encoding="utf-8").read())
  docstrings = set()
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
      if node.body and isinstance(node.body[0], ast.Expr) and isinstance(
          getattr(node.body[0], "value", None), ast.Constant):
        docstrings.add(id(node.body[0].value))
  return [(n.lineno, n.value) for n in ast.walk(tree)
          if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def _owners(predicate) -> list[str]:
  return sorted({os.path.relpath(p, REPO) for p in MODULES.values()
                 if any(predicate(s) for _, s in _code_strings(p))})


def test_one_sid_token_syntax():
  # The pattern of a prefix (`[A-Za-z][A-Za-z0-9]*`) and of a token (`<..._(\d+)>`).
  assert _owners(lambda s: "[A-Za-z][A-Za-z0-9]*" in s or r"_(\d+)>" in s) == ["gr_jax/data/sids.py"]
  # SID tokens are built by sids.token / sids.tokens_for only.
  built = [os.path.relpath(p, REPO) for p in MODULES.values()
           if re.search(r"""f["']<\{""", open(p, encoding="utf-8").read())]
  assert built == ["gr_jax/data/sids.py"]


def test_one_sids_json_reader_and_every_file_name_in_layout():
  names = ("sids.json", "sid_report.json", "items.jsonl", "sequences.jsonl", "stats.json",
           "captions.jsonl", "interests.jsonl", "view.json", "fused.npy", "ids.txt",
           "run_info.json", "metrics.jsonl", "spm.model", "vocab.json")
  for name in names:
    assert _owners(lambda s, name=name: s == name) == ["gr_jax/data/layout.py"], name
  readers = [os.path.relpath(p, REPO) for p in MODULES.values()
             if re.search(r"def (load_sids|read_sid\w*|read_layout|validate)\b",
                          open(p, encoding="utf-8").read()) and "sids" in os.path.basename(p)]
  assert readers == ["gr_jax/data/sids.py"]
  # Nobody else parses sids.json: no JSON reader on a sids path, no lookups of its `sids` tables.
  for path in MODULES.values():
    if path.endswith(os.path.join("data", "sids.py")):
      continue
    text = open(path, encoding="utf-8").read()
    assert not re.search(r"(read_json|json\.load)\w*\([^)]*sids", text), path
    assert not re.search(r"""\[["']sids["']\]|\.get\(["']sids["']""", text), path


def test_one_max_history_default():
  hits = []
  for dirpath, _, files in os.walk(REPO):
    rel = os.path.relpath(dirpath, REPO)
    # gin/demo/ sizes the demo down on purpose (MAX_HISTORY = 10): an override, not a default.
    if rel == os.path.join("gin", "demo") or any(
        part.startswith(".") or part in ("build", "tests") for part in rel.split(os.sep)):
      continue
    for f in files:
      if f.endswith((".py", ".gin")):
        text = open(os.path.join(dirpath, f), encoding="utf-8").read()
        for m in re.finditer(r"(?i)max_history\w*\s*(?::\s*int\s*)?=\s*(\d+)", text):
          hits.append((os.path.relpath(os.path.join(dirpath, f), REPO), m.group(1)))
  assert hits == [("gr_jax/data/layout.py", "20")], hits


def test_gin_reads_the_python_max_history():
  import gin  # pylint: disable=g-import-not-at-top
  from gr_jax import gin_flags  # pylint: disable=g-import-not-at-top
  from gr_jax import train  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from gr_jax.data import layout  # pylint: disable=g-import-not-at-top

  probe = gin.external_configurable(lambda max_history=None: max_history, "architecture_probe")
  gin.clear_config()
  try:
    gin_flags.parse_gin(["gr_jax/train_defaults.gin"], [
        "MODEL_DIR='m'", "TRAIN_STEPS=1", "DATA_DIR='d'", "DATASET_NAME='n'",
        "TASK_FEATURE_LENGTHS={}", "architecture_probe.max_history = %MAX_HISTORY"])
    assert probe() == layout.MAX_HISTORY
  finally:
    gin.clear_config()


def test_no_json_load_outside_io_utils():
  offenders = [os.path.relpath(p, REPO) for p in MODULES.values()
               if "json.load(" in open(p, encoding="utf-8").read()
               and not p.endswith("io_utils.py")]
  assert not offenders


@pytest.mark.parametrize("name", ["DESIGN.md"])
def test_no_stale_design_references(name):
  for path in list(MODULES.values()) + [os.path.join(REPO, "README.md"), os.path.join(REPO, "setup.py")]:
    assert name not in open(path, encoding="utf-8").read(), path
