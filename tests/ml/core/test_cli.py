"""ml/core/cli.py: a command's data printed so that a reader leaving early ends it quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml.core.cli import emit
from ml.core.paths import REPO_ROOT

# Prints, then goes on after the reader left: later data, a file written, the exit code kept.
PROGRAM = """
import sys
from pathlib import Path
from ml.core.cli import emit
first = emit("x" * 200_000)
second = emit("more")
Path(sys.argv[1]).write_text(f"{first} {second}")
"""


def test_emit_prints_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert emit('{"a": 1}') is True
    assert capsys.readouterr().out == '{"a": 1}\n'


def test_a_closed_pipe_silences_stdout_and_the_command_goes_on(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader (`| head`) is gone before anything is written
    marker = tmp_path / "after"
    try:
        result = subprocess.run(
            [sys.executable, "-c", PROGRAM, str(marker)],
            cwd=REPO_ROOT,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode == 0
    assert marker.read_text(encoding="utf-8") == "False True"
