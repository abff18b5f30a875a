"""Shared helpers for the settings tests: the committed stack files and config mutations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from ml.core.identity import load_identity
from tests.support.pulumi_unit import PROJECT, REPO_ROOT

STACKS = ("dev", "prod")
NS = f"{PROJECT}:"


def stack_config(stack: str) -> dict[str, Any]:
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["config"]


def identity() -> dict[str, Any]:
    return load_identity().model_dump(by_alias=True)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation of the config: `cluster.nodePools.0.limits.gpus` = value (None deletes)."""

    def mutate(config: dict[str, Any]) -> None:
        section, *rest = path.split(".")
        key = section if ":" in section else NS + section
        if not rest:
            if value is None:
                del config[key]
            else:
                config[key] = value
            return
        node = config[key]
        for part in rest[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = rest[-1]
        if value is None:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate
