"""Tests for gr_jax.flags: known failures as one line + exit 2, --debug keeps the traceback."""

import pytest

from gr_jax import flags
from gr_jax import io_utils


def test_guarded_turns_known_failures_into_one_line_and_exit_2(capsys):
  def fail(error):
    def fn():
      raise error
    return fn

  for error, text in ((io_utils.BadInputError("/d/x.jsonl", 3, "title", "missing field"),
                       "/d/x.jsonl:3 field 'title': missing field"),
                      (io_utils.StageError("server down\nsecond line"), "server down second line"),
                      (IsADirectoryError(21, "Is a directory", "/d/raw"), "Is a directory: /d/raw")):
    assert flags.guarded("gr-jax x", fail(error)) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"gr-jax x: {text}")
    with pytest.raises(type(error)):
      flags.guarded("gr-jax x", fail(error), debug=True)
  with pytest.raises(KeyError):  # A bug is not a known failure: it keeps its traceback.
    flags.guarded("gr-jax x", fail(KeyError("bug")))
  assert flags.guarded("gr-jax x", lambda: 0) == 0
