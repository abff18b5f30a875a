"""`make TARGET` run as a user types it, in the tests' own environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from ml.core.paths import REPO_ROOT

STAMP = ".venv/.installed"


def run_make(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`make ARGS` from the repository root. No flags of an outer make (`-s`, `-n`) leak in;
    setup counts as done (`-o`: the tests run in it) and PY is the interpreter running them."""
    outer = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    environ = {k: v for k, v in (env or os.environ).items() if k not in outer}
    command = ["make", "--no-print-directory", "-o", STAMP, *args, f"PY={sys.executable}"]
    return subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
