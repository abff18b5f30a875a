"""The offline plan of a whole stack, run once per test session in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from typing import Any

from tests.support.pulumi_unit import REPO_ROOT


def run_plan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.tools.plan", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@cache
def plan_output(stack: str, fmt: str = "json") -> str:
    result = run_plan("--stack", stack, "--format", fmt)
    assert result.returncode == 0, result.stderr
    return result.stdout


def plan_json(stack: str) -> dict[str, Any]:
    return json.loads(plan_output(stack))
