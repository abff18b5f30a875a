"""Reading the YAML files a user edits (params.yaml, Pulumi.yaml, Pulumi.<stack>.yaml).

A file that can't be read or parsed fails with one line that says where, the way compilers do,
line and column 1-based: `Pulumi.dev.yaml:12:5: YAML syntax error: mapping values are not
allowed here`. A stray colon costs a glance at one position, not PyYAML's multi-line report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.error import Mark, MarkedYAMLError
from yaml.reader import ReaderError


class ConfigFileError(ValueError):
    """A config file can't be read or isn't valid YAML: `<file>:<line>:<column>: <problem>`."""


def shown(path: Path) -> str:
    """The path as a user typed it: relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _where(mark: Mark) -> str:
    return f"{mark.line + 1}:{mark.column + 1}"


def _problem(name: str, text: str, error: yaml.YAMLError) -> str:
    """One line from PyYAML's error: the problem at its position, and what it was inside of."""
    if isinstance(error, ReaderError):  # a control character: PyYAML gives its offset only
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        character = f"#x{error.character:04x}"
        return f"{name}:{line}:{column}: YAML syntax error: unacceptable character {character}"
    if not isinstance(error, MarkedYAMLError) or error.problem_mark is None:
        return f"{name}: YAML syntax error: {' '.join(str(error).split())}"
    problem = error.problem or "invalid YAML"
    context, mark = error.context, error.context_mark
    if context:
        at = f" at {_where(mark)}" if mark and mark.line != error.problem_mark.line else ""
        # "while scanning ..." frames the problem; "expected ..." is the first half of it.
        if context.startswith("while "):
            problem = f"{problem} ({context}{at})"
        else:
            problem = f"{context}{at}, {problem}"
    return f"{name}:{_where(error.problem_mark)}: YAML syntax error: {problem}"


def load_yaml(path: Path) -> Any:
    """The file's one YAML document (None when empty), or a ConfigFileError saying where."""
    name = shown(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigFileError(f"{name}: not UTF-8 text (byte {error.start + 1})") from None
    except OSError as error:
        raise ConfigFileError(f"{name}: cannot read: {error.strerror or error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigFileError(_problem(name, text, error)) from None


def load_mapping(path: Path) -> dict[str, Any]:
    """load_yaml() of a file whose top level is a mapping of keys (an empty file is `{}`)."""
    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{shown(path)}: expected a mapping of keys, found {_kind(data)}")
    return data


def mapping_at(path: Path, data: dict[str, Any], key: str) -> dict[str, Any]:
    """`data[key]` of a file read by load_mapping(), checked to be a mapping (absent is `{}`)."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigFileError(f"{shown(path)}: {key}: expected a mapping, found {_kind(value)}")
    return value


def _kind(value: object) -> str:
    return {list: "a list", str: "a string"}.get(type(value), type(value).__name__)
