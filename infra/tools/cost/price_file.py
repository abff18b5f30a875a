"""Writing one region into the hand-commented price table: its block of lines and nothing else.

The file's comments, its other regions and their layout stay as they are: the region's lines
under `regions:` are replaced (or added at the end of that section), and the new text must load
as a price table whose other regions are unchanged before it replaces the file.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from infra.tools.cost.errors import CostError
from infra.tools.cost.prices import PriceTable
from ml.core.errors import problems

SECTION = re.compile(r"^regions:[ \t]*(#.*)?$")
INDENT = "  "


def number(value: Decimal) -> str:
    """A price as YAML reads it back: plain decimals, no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


def render_region(region: str, values: Mapping[str, Any], comment: str, indent: str) -> list[str]:
    """The region's lines: scalars, the EBS map on one line, instance maps one type a line."""
    inner = indent * 2
    lines = [f"{indent}{region}:", f"{inner}# {comment}"]
    for key, value in values.items():
        if isinstance(value, Mapping) and key == "ebs_gb_month":
            pairs = ", ".join(f"{name}: {number(price)}" for name, price in value.items())
            lines.append(f"{inner}{key}: {{{pairs}}}")
        elif isinstance(value, Mapping):
            lines.append(f"{inner}{key}:")
            lines += [f"{inner}{indent}{name}: {number(price)}" for name, price in value.items()]
        elif isinstance(value, Decimal):
            lines.append(f"{inner}{key}: {number(value)}")
        else:
            lines.append(f'{inner}{key}: "{value}"')
    return lines


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _section(lines: list[str], path: Path) -> tuple[int, int]:
    """[start, end) of the lines inside the top-level `regions:` mapping."""
    starts = [i for i, line in enumerate(lines) if SECTION.match(line)]
    if not starts:
        raise CostError(f"{path}: no block-style `regions:` mapping to add a region to")
    start = starts[0] + 1
    end = next(
        (i for i in range(start, len(lines)) if lines[i][:1] not in ("", " ", "#")), len(lines)
    )
    return start, end


def region_indent(text: str, path: Path) -> str:
    """The indentation of the region keys under `regions:` (two spaces when there are none)."""
    lines = text.splitlines()
    start, end = _section(lines, path)
    keys = [line for line in lines[start:end] if line.strip() and not line.lstrip().startswith("#")]
    return " " * _indent(keys[0]) if keys else INDENT


def with_region(text: str, region: str, block: list[str], path: Path) -> str:
    """`text` with the region's block replaced by `block`, or `block` added after the others."""
    lines = text.splitlines()
    start, end = _section(lines, path)
    key = re.compile(rf"^ +{re.escape(region)}:(\s|$)")
    first = next((i for i in range(start, end) if key.match(lines[i])), None)
    if first is None:
        last = max((i for i in range(start, end) if lines[i].strip()), default=start - 1)
        lines[last + 1 : last + 1] = ["", *block] if last >= start else block
    else:
        depth, stop = _indent(lines[first]), first + 1
        while stop < end and (not lines[stop].strip() or _indent(lines[stop]) > depth):
            stop += 1
        while stop > first + 1 and not lines[stop - 1].strip():
            stop -= 1  # blank lines after the block separate it from the next one: keep them
        lines[first:stop] = block
    return "\n".join(lines) + "\n"


def checked(text: str, region: str, before: PriceTable, path: Path) -> PriceTable:
    """The table `text` holds, refused unless only `region` changed."""
    try:
        table = PriceTable.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as error:
        detail = "; ".join(problems(error)) if isinstance(error, ValidationError) else str(error)
        raise CostError(f"{path}: the rewritten table would not load ({detail})") from None
    others = {name: prices for name, prices in table.regions.items() if name != region}
    kept = {name: prices for name, prices in before.regions.items() if name != region}
    if others != kept or table.model_dump(exclude={"regions"}) != before.model_dump(
        exclude={"regions"}
    ):
        raise CostError(f"{path}: rewriting {region} would change more than its block")
    return table


def write_atomically(path: Path, text: str) -> None:
    """Replace the file in one step, so a failure leaves the old table whole."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        shutil.copymode(path, temporary)  # mkstemp's file is private; keep the table's mode
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
