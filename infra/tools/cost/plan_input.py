"""The offline plan the estimate prices: its resources, from a file or `infra.tools.plan`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.tools.cost.errors import CostError
from ml.core.paths import REPO_ROOT

PROVIDER_PREFIX = "pulumi:providers:"


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    inputs: Mapping[str, Any]
    # The (mock) physical id, when the plan records it: it resolves references like subnetIds.
    id: str | None = None


@dataclass(frozen=True)
class Plan:
    stack: str
    resources: list[Resource]

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}


def _resource(raw: Any, where: str) -> Resource:
    if not isinstance(raw, dict):
        raise CostError(f"{where}: expected an object")
    for key in ("type", "name"):
        if not isinstance(raw.get(key), str):
            raise CostError(f"{where}.{key}: missing or not a string")
    inputs = raw.get("inputs")
    inputs = {} if inputs is None else inputs
    if not isinstance(inputs, dict):
        raise CostError(f"{where}.inputs: expected an object")
    return Resource(
        urn=str(raw.get("urn") or f"{raw['type']}::{raw['name']}"),
        type=raw["type"],
        name=raw["name"],
        parent=raw.get("parent"),
        provider=raw.get("provider"),
        inputs=inputs,
        id=str(raw["id"]) if raw.get("id") else None,
    )


def parse_plan(data: Any, source: str) -> Plan:
    """The plan JSON `python -m infra.tools.plan --format json` prints, checked key by key."""
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise CostError(f"{source}: not a plan: expected an object with a `resources` list")
    resources = [
        _resource(raw, f"{source}: resources[{index}]")
        for index, raw in enumerate(data["resources"])
    ]
    return Plan(stack=str(data.get("stack", "")), resources=resources)


def load_plan(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CostError(f"{path}: cannot read the plan: {error}") from None
    return parse_plan(data, str(path))


def run_plan(stack: str) -> Plan:
    """The offline plan of `stack`, as `python -m infra.tools.plan` prints it."""
    command = [sys.executable, "-m", "infra.tools.plan", "--stack", stack, "--format", "json"]
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise CostError(f"`{' '.join(command[1:])}` failed:\n{result.stderr.strip()}")
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise CostError(f"`python -m infra.tools.plan` printed no JSON plan: {error}") from None
    return parse_plan(data, f"plan of stack {stack}")
