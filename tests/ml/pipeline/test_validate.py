from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from ml.core.features import FEATURE_DOMAIN
from ml.core.params import Params
from ml.pipeline.schema import write_table
from ml.pipeline.validate import ValidationError, run, sha256, validate

Breakage = Callable[[pd.DataFrame], pd.DataFrame]


def _set(column: str, row: int, value: object) -> Breakage:
    def breaks(table: pd.DataFrame) -> pd.DataFrame:
        table = table.copy()
        if isinstance(value, str):
            table[column] = table[column].astype(object)
        table.loc[row, column] = value
        return table

    return breaks


BROKEN_TABLES: dict[str, tuple[Breakage, str]] = {
    "out of range": (_set("mean radius", 3, -1.0), "column 'mean radius' breaks in_range(0.0"),
    "null": (
        _set("texture error", 4, None),
        "column 'texture error' breaks max_null_fraction(0.0): 1 of 569 values are null",
    ),
    "text in a number column": (
        _set("worst area", 5, "n/a"),
        "column 'worst area' breaks dtype('float64'): found",
    ),
    "unknown label": (_set("target", 6, 7), "column 'target' breaks isin([0, 1])"),
    "missing column": (
        lambda t: t.drop(columns=["mean area"]),
        "column 'mean area' breaks required column",
    ),
    "undeclared column": (
        lambda t: t.assign(patient_id=1),
        "column 'patient_id' breaks strict columns",
    ),
    "one class only": (
        lambda t: t[t["target"] == 1],
        "column 'target' breaks min_class_fraction(0.25): class shares",
    ),
    "too few rows": (lambda t: t.head(50), "table breaks min_rows(400): 50 rows"),
    "no rows": (lambda t: t.head(0), "table breaks min_rows(400): 0 rows"),
}


def test_the_shipped_table_passes(raw_table: pd.DataFrame, params: Params) -> None:
    assert validate(raw_table, params.validate_) == []


def test_every_feature_has_a_declared_range(raw_table: pd.DataFrame) -> None:
    assert set(FEATURE_DOMAIN) == set(raw_table.columns) - {"target"}


@pytest.mark.parametrize("case", BROKEN_TABLES, ids=str)
def test_a_broken_table_names_the_column_and_the_rule(
    case: str, raw_table: pd.DataFrame, params: Params
) -> None:
    breaks, expected = BROKEN_TABLES[case]

    messages = [str(violation) for violation in validate(breaks(raw_table), params.validate_)]

    assert any(message.startswith(expected) for message in messages), messages


def test_a_mistyped_column_reports_its_type_not_value_errors(
    raw_table: pd.DataFrame, params: Params
) -> None:
    table = _set("worst area", 5, "n/a")(raw_table)

    violations = validate(table, params.validate_)

    assert [(v.column, v.rule) for v in violations] == [("worst area", "dtype('float64')")]


def test_all_violations_are_reported_at_once(raw_table: pd.DataFrame, params: Params) -> None:
    table = _set("mean radius", 3, -1.0)(_set("texture error", 4, None)(raw_table))

    columns = {violation.column for violation in validate(table, params.validate_)}

    assert columns == {"mean radius", "texture error"}


def test_a_failed_run_writes_the_report_then_raises(
    tmp_path: Path, raw_table: pd.DataFrame, params: Params
) -> None:
    source, report_file = tmp_path / "raw.csv", tmp_path / "reports" / "validation.json"
    write_table(_set("mean radius", 3, 99.0)(raw_table), source)

    with pytest.raises(ValidationError, match=r"validate: column 'mean radius' breaks in_range"):
        run(source, params.validate_, report_file)

    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert report["passed"] is False
    assert report["sha256"] == sha256(source)
    assert report["violations"] == [
        {"column": "mean radius", "rule": "in_range(0.0, 60.0)", "found": "1 row, e.g. 99.0"}
    ]


def test_a_passing_run_records_what_it_checked(
    tmp_path: Path, raw_table: pd.DataFrame, params: Params
) -> None:
    source, report_file = tmp_path / "raw.csv", tmp_path / "validation.json"
    write_table(raw_table, source)

    run(source, params.validate_, report_file)

    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert report == {
        "passed": True,
        "source": str(source),
        "sha256": sha256(source),
        "rows": 569,
        "columns": 31,
        "class_fractions": {"malignant": 0.3726, "benign": 0.6274},
        "violations": [],
    }


@pytest.mark.parametrize("content", ["", 'a,b\n1,2,3,4\n"unclosed'], ids=["empty", "garbled"])
def test_an_unreadable_file_is_a_violation_with_a_report(
    tmp_path: Path, content: str, params: Params
) -> None:
    source, report_file = tmp_path / "raw.csv", tmp_path / "validation.json"
    source.write_text(content, encoding="utf-8")

    with pytest.raises(ValidationError, match="table breaks readable CSV"):
        run(source, params.validate_, report_file)

    assert json.loads(report_file.read_text(encoding="utf-8"))["passed"] is False
