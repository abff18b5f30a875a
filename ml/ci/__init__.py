"""What the GitHub workflows run, as modules a laptop runs too (`make ci` = pr.yml).

Each step decides from what it finds, never from where it runs: AWS steps run when credentials
are present and skip with a message saying so otherwise (a fork's pull request, a laptop without
a profile), so the same commands serve both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import boto3

# The environment running this module: its bin folder has `dvc` and `python`.
BIN = Path(sys.executable).parent


def aws_credentials() -> bool:
    """Whether boto3 finds credentials (env, profile, web identity); no network call."""
    return boto3.Session().get_credentials() is not None


def tool(name: str) -> str:
    """A command from this environment's bin folder, else from PATH."""
    local = BIN / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def run(cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> int:
    """Run a command with its output streaming to the log; returns its exit status."""
    print(f"$ {' '.join(cmd)}", flush=True)
    return subprocess.run(list(cmd), cwd=cwd, env=env, check=False).returncode


def capture(
    cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=False)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without PYTHONPATH (a child picks its own), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return env | extra
