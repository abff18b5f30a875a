"""The README's table of stack settings, generated from the config model and the stack files.

`make docs` rewrites the table between its markers in README.md; a test fails when the README
and the model disagree, so the documentation cannot drift from what `infra/settings` accepts.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from infra.settings import StackSettings
from ml.core.paths import REPO_ROOT

README = REPO_ROOT / "README.md"
STACKS = ("dev", "prod")
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"
# Not stack-file keys: identity comes from params.yaml, the region is `aws:region`.
_SKIPPED = ("identity", "region")
# A map's key in a dotted path: `cluster.karpenter.nodeClasses.<key>.amiAlias`.
_MAP_KEY = "<key>"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds, directly or as the items of a list."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin is dict:
        return _model_in(typing.get_args(annotation)[1])
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if model := _model_in(arg):
                return model
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _unannotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return f"list of {_type_name(item)}"
    if origin is dict:
        return "map"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(
            _type_name(a) for a in typing.get_args(annotation) if a is not type(None)
        )
    return getattr(annotation, "__name__", str(annotation)).replace("IPv4Network", "CIDR")


def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, FieldInfo]]:
    rows: list[tuple[str, FieldInfo]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        nested = _model_in(field.annotation)
        if nested is not None and nested is not model:
            origin = typing.get_origin(_unannotated(field.annotation))
            inner = {list: f"{key}[].", dict: f"{key}.{_MAP_KEY}."}.get(origin, f"{key}.")
            rows.extend(_rows(nested, inner))
        else:
            rows.append((key, field))
    return rows


def _stack_values(stack: str) -> dict[str, Any]:
    data = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["name"]
    prefix = f"{project}:"
    return {k.removeprefix(prefix): v for k, v in data["config"].items() if k.startswith(prefix)}


def _lookup(values: Any, dotted: str) -> Any:
    """The value at `a.b[].c` in a stack file; list items joined, missing as None."""
    head, _, rest = dotted.partition(".")
    if head == _MAP_KEY:
        if not isinstance(values, dict):
            return None
        return {k: _lookup(v, rest) for k, v in values.items()} or None
    if head.endswith("[]"):
        items = values.get(head[:-2]) if isinstance(values, dict) else None
        if not isinstance(items, list):
            return None
        found = [_lookup(item, rest) for item in items]
        return found if any(v is not None for v in found) else None
    value = values.get(head) if isinstance(values, dict) else None
    return _lookup(value, rest) if rest else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, separators=(", ", ": ")) if not isinstance(value, str) else value
    return f"`{text}`".replace("|", "\\|")


def config_table() -> str:
    """The markdown table: key, type, what it does, and each committed stack's value."""
    stacks = {stack: _stack_values(stack) for stack in STACKS}
    lines = [
        "| key | type | what it sets | " + " | ".join(STACKS) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in STACKS) + " |",
    ]
    for name, field in StackSettings.model_fields.items():
        if name in _SKIPPED:
            continue
        key = field.alias or name
        nested = _model_in(field.annotation)
        rows = _rows(nested, f"{key}.") if nested else [(key, field)]
        for dotted, info in rows:
            description = (info.description or "").replace("|", "\\|")
            values = " | ".join(_cell(_lookup(stacks[s], dotted)) for s in STACKS)
            lines.append(
                f"| `{dotted}` | {_type_name(info.annotation)} | {description} | {values} |"
            )
    return "\n".join(lines)


def render_readme(text: str) -> str:
    before, start, rest = text.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"README.md lacks the markers {START} ... {END}")
    return f"{before}{START}\n{config_table()}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the README's stack settings table.")
    parser.add_argument("--check", action="store_true", help="fail if README.md is out of date")
    args = parser.parse_args(argv)
    current = README.read_text(encoding="utf-8")
    wanted = render_readme(current)
    if args.check:
        if current != wanted:
            print("README.md's settings table is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        README.write_text(wanted, encoding="utf-8")
        print("README.md: settings table updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
