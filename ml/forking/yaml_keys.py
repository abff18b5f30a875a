"""Line-level reads and edits of YAML `key: value` lines that keep comments and layout intact.

Enough YAML for the files a rename touches (params.yaml, Pulumi files, copier answers) without a
YAML library: the rename runs with bare python3.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# `key: value  # comment` where a key may hold colons (`aws:region`); the value is one token.
_KEY_VALUE = re.compile(
    r"^(?P<lead>(?P<indent>[ \t]*)(?P<key>[^\s#][^#]*?):(?=[ \t]|\r?$)[ \t]*)"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s#'\"]+)?(?P<rest>[ \t]*(?:#.*)?\r?)$"
)
_YAML_SPECIAL = re.compile(
    r"^(?:y|n|yes|no|true|false|on|off|null|~|[-+.]?\d.*|\.(?:inf|nan))$", re.IGNORECASE
)


def yaml_scalar(value: str) -> str:
    """`value` as a YAML string: plain when YAML 1.1 would read it back as the same string."""
    if _YAML_SPECIAL.match(value) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_./-]*$", value):
        return "'" + value.replace("'", "''") + "'"
    return value


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].replace("''", "'") if value[0] == "'" else value[1:-1]
    return value


def section_lines(text: str, section: str) -> range:
    """Indices of the lines of the top-level YAML mapping `section:` (excluding its header)."""
    lines = text.split("\n")
    for start, line in enumerate(lines):
        if re.match(rf"^{re.escape(section)}:[ \t]*(#.*)?\r?$", line):
            end = start + 1
            while end < len(lines) and (not lines[end].strip() or lines[end][:1] in " \t#"):
                end += 1
            return range(start + 1, end)
    return range(0)


def key_lines(text: str, section: str | None = None) -> list[tuple[int, re.Match[str]]]:
    """(line index, match) of the `key: value` lines at the top level, or at the first level of
    the top-level mapping `section:`."""
    lines = text.split("\n")
    indices = section_lines(text, section) if section else range(len(lines))
    depth = None if section else 0
    found = []
    for index in indices:
        match = _KEY_VALUE.match(lines[index])
        if not match:
            continue
        depth = len(match["indent"]) if depth is None else depth
        if len(match["indent"]) == depth and match["value"] is not None:
            found.append((index, match))
    return found


def read_keys(text: str, section: str | None = None) -> dict[str, str]:
    found: dict[str, str] = {}
    for _, match in key_lines(text, section):
        found.setdefault(match["key"], unquote(match["value"]))
    return found


def set_keys(text: str, values: dict[str, str], section: str | None = None) -> str:
    """Set the value of `key: value` lines, keeping their comments and everything else."""
    lines = text.split("\n")
    for index, match in key_lines(text, section):
        new = values.get(match["key"])
        if new is not None and unquote(match["value"]) != new:
            lines[index] = match["lead"] + yaml_scalar(new) + match["rest"]
    return "\n".join(lines)


def replace_block_values(
    text: str, block: tuple[str, ...], changes: Mapping[str, tuple[str, str]]
) -> str:
    """Set `key: old` to `key: new` (changes: key -> (old, new)) in every mapping, at any depth,
    whose path of keys ends with `block`; a key holding another value keeps it."""
    lines = text.split("\n")
    opened: list[tuple[int, str]] = []  # (indent, key) of the mappings around the line
    for index, line in enumerate(lines):
        match = _KEY_VALUE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while opened and opened[-1][0] >= indent:
            opened.pop()
        if match["value"] is None:
            opened.append((indent, match["key"]))
            continue
        path = tuple(key for _, key in opened)
        old, new = changes.get(match["key"], (None, None))
        if path[-len(block) :] == block and new is not None and unquote(match["value"]) == old:
            lines[index] = match["lead"] + yaml_scalar(new) + match["rest"]
    return "\n".join(lines)
