"""T5X-style gin flags shared by `gr-jax train` and `gr-jax tokenize`, and gin constants.

Repeated `--gin_file`, `--gin.NAME=VALUE` (rewritten to `--gin NAME=VALUE` for argparse)
and `--gin_search_paths`; files and includes are looked up in the search paths, the
current directory and the repo's gin/ folder.
"""

from __future__ import annotations

import argparse
import logging
import os
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


def parse_gin(gin_files: Sequence[str], bindings: Sequence[str],
              search_paths: Sequence[str] = ()) -> None:
  """Parses gin files and bindings with the search paths above, without search-miss noise."""
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
  try:
    gin.parse_config_files_and_bindings(list(gin_files), list(bindings))
  finally:
    for logger in loggers:
      logger.removeFilter(quiet)
    for handler in handlers:
      handler.removeFilter(quiet)
