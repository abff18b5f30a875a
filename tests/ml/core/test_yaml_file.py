"""A config file that is no valid YAML fails with one line: `<file>:<line>:<column>: <problem>`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ml.core.yaml_file import ConfigFileError, load_mapping, load_yaml, mapping_at

BROKEN: dict[str, tuple[bytes, str]] = {
    "colon in a value": (
        b"config:\n  aws:region: us-east-1\n  a: b: c\n",
        "3:7: YAML syntax error: mapping values are not allowed here",
    ),
    "unclosed quote": (
        b'config:\n  x: "abc\n',
        "3:1: YAML syntax error: found unexpected end of stream "
        "(while scanning a quoted scalar at 2:6)",
    ),
    "bad indentation": (
        b"config:\n  x: 1\n y: 2\n",
        "3:2: YAML syntax error: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block mapping at 1:1)",
    ),
    "unclosed list": (
        b"a: [1, 2\n",
        "2:1: YAML syntax error: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at 1:4)",
    ),
    "two documents": (
        b"a: 1\n---\nb: 2\n",
        "2:1: YAML syntax error: expected a single document in the stream at 1:1, "
        "but found another document",
    ),
    "control character": (
        b"a: 1\nb: x\x07\n",
        "2:5: YAML syntax error: unacceptable character #x0007",
    ),
    "not UTF-8": (b"a: \xff\n", "not UTF-8 text (byte 4)"),
}


@pytest.mark.parametrize("case", BROKEN, ids=str)
def test_a_broken_file_fails_in_one_line_saying_where(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, expected = BROKEN[case]
    (tmp_path / "Pulumi.dev.yaml").write_bytes(content)
    monkeypatch.chdir(tmp_path)  # the file is named as a user typed it: relative to here

    with pytest.raises(ConfigFileError) as error:
        load_yaml(Path("Pulumi.dev.yaml"))

    separator = "" if expected[0].isdigit() else " "
    assert str(error.value) == f"Pulumi.dev.yaml:{separator}{expected}"
    assert "\n" not in str(error.value)


def test_a_file_outside_the_working_directory_is_named_in_full(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("a: b: c\n", encoding="utf-8")
    with pytest.raises(
        ConfigFileError, match=rf"^{re.escape(str(path))}:1:5: YAML syntax error: mapping"
    ):
        load_yaml(path)


def test_a_missing_file_is_one_line_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match=r"params\.yaml: cannot read: No such file"):
        load_yaml(tmp_path / "params.yaml")


def test_mappings_are_checked_at_the_top_and_at_a_key(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("", encoding="utf-8")
    assert load_mapping(path) == {}
    path.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ConfigFileError, match=r"Pulumi\.dev\.yaml: expected a mapping of keys"):
        load_mapping(path)
    path.write_text("config:\n  - aws:region\n", encoding="utf-8")
    data = load_mapping(path)
    with pytest.raises(ConfigFileError, match=r"Pulumi\.dev\.yaml: config: expected a mapping"):
        mapping_at(path, data, "config")
    assert mapping_at(path, {"config": None}, "config") == {}
