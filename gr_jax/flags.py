"""What every entry point shares: one flag spelling (`--a_b` as T5X, `--a-b` accepted but hidden)
and one way to fail (known failures as one line + exit 2, `--debug` for the traceback)."""

from __future__ import annotations

import argparse
import copy
import sys
from typing import Callable

from gr_jax import io_utils

# Failures a user fixes from the message alone: one line on stderr and exit 2 (--debug: traceback).
KNOWN_FAILURES = (io_utils.BadInputError, io_utils.StageError, FileNotFoundError,
                  IsADirectoryError, NotADirectoryError, PermissionError)
EXIT_BAD_INPUT = 2


def add_debug_flag(parser: argparse.ArgumentParser, default=False) -> None:
  """`--debug`: show the full traceback instead of the one-line error."""
  parser.add_argument("--debug", action="store_true", default=default,
                      help="on a failure, show the full Python traceback instead of one line")


def one_line(error: BaseException) -> str:
  """A known failure as one line (OS errors as 'why: path')."""
  if isinstance(error, OSError) and error.filename is not None and error.strerror:
    text = f"{error.strerror}: {error.filename}"
  else:
    text = str(error) or type(error).__name__
  text = text.split("\n  In call to configurable")[0]  # gin's note on where it was raised.
  return " ".join(text.split())


def guarded(prog: str, fn: Callable[[], int], debug: bool = False) -> int:
  """Runs `fn`; a known failure prints `prog: <one line>` and returns 2 (re-raised with debug)."""
  try:
    return int(fn() or 0)
  except KNOWN_FAILURES as e:
    if debug:
      raise
    print(f"{prog}: {one_line(e)} (--debug shows the traceback)", file=sys.stderr)
    return EXIT_BAD_INPUT


def add_dashed_aliases(parser: argparse.ArgumentParser) -> None:
  """Accepts `--a-b` for every `--a_b` flag, hidden from --help.

  Flags are spelled with underscores in every subcommand, as in T5X (`--gin_file`,
  `--model_dir`); the dashed spelling some subcommands used earlier keeps working.
  """
  for action in list(parser._actions):  # pylint: disable=protected-access
    for option in action.option_strings:
      alias = option.replace("_", "-")
      if not option.startswith("--") or alias == option:
        continue
      if alias in parser._option_string_actions:  # pylint: disable=protected-access
        continue
      hidden = copy.copy(action)
      hidden.option_strings, hidden.help, hidden.required = [alias], argparse.SUPPRESS, False
      parser._add_action(hidden)  # pylint: disable=protected-access
