"""T5X-style gin flags shared by `gr-jax train` and `gr-jax tokenize`, and gin constants.

Repeated `--gin_file`, `--gin.NAME=VALUE` (rewritten to `--gin NAME=VALUE` for argparse)
and `--gin_search_paths`; files and includes are looked up in the search paths, the
current directory and the repo's gin/ folder.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from typing import Sequence

import gin

from gr_jax import paths
from gr_jax.data import layout

# Python defaults that gin files read as `%gr_jax.NAME` (one source for argparse and gin).
gin.constant("gr_jax.DEFAULT_MAX_HISTORY", layout.MAX_HISTORY)


def rewrite_gin_args(argv: Sequence[str]) -> list[str]:
  """T5X-style `--gin.NAME=VALUE` -> `--gin NAME=VALUE`."""
  out = []
  for arg in argv:
    if arg.startswith("--gin.") and "=" in arg:
      out += ["--gin", arg[len("--gin."):]]
    else:
      out.append(arg)
  return out


def add_gin_arguments(parser: argparse.ArgumentParser, example_file: str,
                      example_binding: str) -> None:
  """Adds --gin_file/--gin/--gin_search_paths and makes the parser accept `--gin.X=V`."""
  parser.add_argument("--gin_file", action="append", default=[],
                      help=f"Gin file (repeatable), e.g. {example_file}; looked up in "
                      "--gin_search_paths, the current directory and the repo's gin/.")
  parser.add_argument("--gin", "--gin_bindings", dest="gin_bindings", action="append", default=[],
                      metavar="NAME=VALUE",
                      help=f"Gin binding (repeatable), e.g. {example_binding} "
                      "(strings need inner quotes: --gin.MODEL_DIR=\"'/tmp/m'\").")
  parser.add_argument("--gin_search_paths", action="append", default=[],
                      help="Extra directories for gin files and includes.")
  original = parser.parse_known_args

  def parse_known_args(args=None, namespace=None):
    return original(rewrite_gin_args(sys.argv[1:] if args is None else args), namespace)

  parser.parse_known_args = parse_known_args  # Accept --gin.NAME=VALUE like T5X.


class _DropGinSearchMisses(logging.Filter):
  """gin logs an ERROR ("Path not found") for every search path it tries."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(("Path not found", "system_path_file_exists"))


class T5XConfigError(ValueError):
  """A T5X run config (for `python -m t5x.train`) handed to gr_jax's own gin parser."""


# T5X run configs bind train() through `import __main__` and include T5X's own gin files.
_T5X_LINE = re.compile(r"^\s*(import\s+__main__\b|include\s+['\"]t5x/)", re.M)
_INCLUDE = re.compile(r"^\s*include\s+['\"]([^'\"]+)['\"]", re.M)


def _find(name: str, dirs: Sequence[str]):
  if os.path.isabs(name):
    return name if os.path.isfile(name) else None
  return next((os.path.join(d, name) for d in dirs if os.path.isfile(os.path.join(d, name))), None)


def check_not_t5x(gin_files: Sequence[str], search_paths: Sequence[str] = ()) -> None:
  """Raises T5XConfigError, naming the gr_jax config to use, when a file or one of its
  includes is a T5X run config (gin/{trialign,macrec,tiger}.gin are; gin/gr_jax/* are not)."""
  dirs = list(search_paths) + [os.getcwd(), paths.GIN_DIR, paths.REPO_ROOT]
  for name in gin_files:
    todo, seen = [name], set()
    while todo:
      path = _find(todo.pop(), dirs)
      if path is None or path in seen:
        continue
      seen.add(path)
      with open(path, encoding="utf-8") as f:
        text = f.read()
      if _T5X_LINE.search(text):
        top = _find(name, dirs)
        t5x_name = os.path.relpath(top, paths.REPO_ROOT) if top.startswith(paths.REPO_ROOT) else name
        own = os.path.join(paths.GIN_DIR, "gr_jax", os.path.basename(name))
        use = (f"--gin_file={os.path.relpath(own, paths.REPO_ROOT)}" if os.path.isfile(own)
               else "the configs in gin/gr_jax/")
        raise T5XConfigError(
            f"{name} is a T5X run config: run it from the repo root with `python -m t5x.train "
            f"--gin_file={t5x_name}` (README, 'Running with T5X'). gr_jax's own trainer takes {use}.")
      todo += _INCLUDE.findall(text)


def parse_gin(gin_files: Sequence[str], bindings: Sequence[str],
              search_paths: Sequence[str] = ()) -> None:
  """Parses gin files and bindings with the search paths above, without search-miss noise.

  A T5X run config raises T5XConfigError pointing to gr_jax's own config.
  """
  check_not_t5x(gin_files, search_paths)
  for path in list(search_paths) + [os.getcwd(), paths.GIN_DIR]:
    if path not in gin.config._LOCATION_PREFIXES:  # pylint: disable=protected-access
      gin.add_config_file_search_path(path)
  quiet = _DropGinSearchMisses()
  loggers = [logging.getLogger(), logging.getLogger("absl")]
  for logger in loggers:
    logger.addFilter(quiet)
  handlers = [h for logger in loggers for h in logger.handlers]
  for handler in handlers:  # Filters on loggers do not see records of child loggers.
    handler.addFilter(quiet)
  # Top-level files go to gin as absolute paths: gin's package-path reader raises (instead of
  # answering "not found") when a relative name's folder is also a namespace package on
  # sys.path (e.g. `rqvae/x.gin` beside a `rqvae/` folder of tests).
  dirs = list(search_paths) + [paths.GIN_DIR]
  resolved = [os.path.abspath(name) if os.path.isfile(name) else (_find(name, dirs) or name)
              for name in gin_files]
  try:
    gin.parse_config_files_and_bindings(resolved, list(bindings))
  finally:
    for logger in loggers:
      logger.removeFilter(quiet)
    for handler in handlers:
      handler.removeFilter(quiet)
