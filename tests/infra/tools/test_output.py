"""Commands that print data print only the data, and end quietly when their reader leaves.

`make plan FORMAT=json > plan.json` must write a file `make cost BASE=plan.json` can read (make
echoes a recipe line unless it starts with `@`), and `... | head` must not end in a traceback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support.make import run_make
from tests.support.pulumi_unit import REPO_ROOT

# Make targets whose stdout is data a user redirects or pastes: JSON, markdown, `export` lines.
DATA_TARGETS = ("plan", "cost", "stack-env", "rollout-record")


@pytest.mark.parametrize("target", ["plan", "cost"])
def test_make_json_output_is_only_the_json(target: str) -> None:
    result = run_make(target, "STACK=dev", "FORMAT=json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["stack"] == "dev"


def test_a_plan_made_the_readme_way_is_a_base_for_make_cost(tmp_path: Path) -> None:
    plan = run_make("plan", "STACK=dev", "FORMAT=json")
    assert plan.returncode == 0, plan.stderr
    (tmp_path / "old.json").write_text(plan.stdout, encoding="utf-8")
    cost = run_make("cost", "STACK=dev", "FORMAT=json", f"BASE={tmp_path / 'old.json'}")
    assert cost.returncode == 0, cost.stderr
    # The same plan as its own base: a difference of nothing.
    delta = json.loads(cost.stdout)["delta"]
    assert delta and set(delta.values()) == {0}


def recipe(target: str, makefile: Path = REPO_ROOT / "Makefile") -> list[str]:
    """The recipe lines of `target` as the Makefile writes them."""
    lines = makefile.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{re.escape(target)}:", line))
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        body.append(line)
    assert body, f"{target} has no recipe"
    return body


@pytest.mark.parametrize("target", [*DATA_TARGETS, "$(STAMP)"])
def test_data_targets_and_setup_echo_no_command(target: str) -> None:
    # Setup runs first on a fresh clone: its commands must not reach stdout either.
    echoed = [line for line in recipe(target) if not line.startswith("\t@")]
    assert echoed == [], f"{target}: prefix these recipe lines with @"


def test_setup_speaks_on_stderr() -> None:
    for line in recipe("$(STAMP)"):
        assert line.startswith(("\t@touch", "\t@$(PYTHON) -m venv")) or line.endswith(">&2"), line


def closed_pipe_run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run `command` with stdout a pipe nobody reads: its reader is gone before it writes."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            command,
            cwd=REPO_ROOT,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=300,
        )
    finally:
        os.close(write)
    return subprocess.CompletedProcess(command, done.returncode, "", done.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ["infra.tools.plan", "--stack", "dev", "--format", "json"],
        ["infra.tools.plan", "--stack", "dev"],
        ["infra.tools.cost", "--stack", "dev", "--format", "json"],
        ["infra.tools.cost", "--stack", "dev", "--format", "markdown"],
        ["infra.tools.urn", "model-serving", "--stack", "dev"],
    ],
    ids=" ".join,
)
def test_a_closed_pipe_ends_quietly(args: list[str]) -> None:
    result = closed_pipe_run([sys.executable, "-m", *args])
    assert "Traceback" not in result.stderr
    assert "BrokenPipeError" not in result.stderr
    assert result.returncode == 0, result.stderr


def test_plan_into_head_ends_quietly() -> None:
    # `python -m infra.tools.plan --stack dev --format json | head -c 100`, without a shell: the
    # plan (hundreds of KB) overflows the pipe, so it is still writing when the reader leaves.
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.tools.plan", "--stack", "dev", "--format", "json"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    head = process.stdout.read(100)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == 0, stderr
    assert head.startswith(b"{")
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
