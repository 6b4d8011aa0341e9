"""`gr-jax`: one flag spelling (underscores) in every subcommand's --help, dashed aliases hidden."""

import re

import pytest

from gr_jax import cli


def _subparser(name):
  parser = cli.build_parser(only=name)
  sub = next(a for a in parser._actions if a.dest == "command")  # pylint: disable=protected-access
  return sub.choices[name]


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_help_uses_underscores_only(name):
  sub = _subparser(name)
  text = sub.format_help()
  flags = set(re.findall(r"(?<![\w-])--[a-z][\w.-]*", text))
  assert flags, text
  dashed = sorted(f for f in flags if "-" in f[2:] and not f.startswith("--gin."))
  assert not dashed, f"gr-jax {name} --help shows {dashed}"
  # Every underscore flag also accepts its dashed spelling, with the same destination.
  for action in sub._actions:  # pylint: disable=protected-access
    for option in action.option_strings:
      if option.startswith("--") and "_" in option:
        alias = sub._option_string_actions[option.replace("_", "-")]  # pylint: disable=protected-access
        assert alias.dest == action.dest and alias.help == "==SUPPRESS==", (name, option)


def test_dashed_alias_parses_like_the_flag():
  parser = cli.build_parser(only="embed")
  args = parser.parse_args(["embed", "--data", "d", "--image-size", "224", "--no-center",
                            "--text-npy", "t.npy"])
  canonical = parser.parse_args(["embed", "--data", "d", "--image_size", "224", "--no_center",
                                 "--text_npy", "t.npy"])
  assert vars(args) == vars(canonical)
  assert (args.image_size, args.center, args.text_npy) == (224, False, "t.npy")


def test_no_command_prints_help(capsys):
  assert cli.main([]) == 2
  assert "prepare -> enrich -> embed" in capsys.readouterr().out
