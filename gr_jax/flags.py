"""One flag spelling for every entry point: `--a_b` (as T5X), with `--a-b` accepted but hidden."""

from __future__ import annotations

import argparse
import copy


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
