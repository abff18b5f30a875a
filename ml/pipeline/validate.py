"""Stage 2, validate: check the raw table against its declared schema (ml/pipeline/schema.py).

Nothing learns from a table that breaks a rule: a violation stops the pipeline (exit status 1)
with one line per broken rule naming the column and the rule, e.g.
`validate: column 'mean radius' breaks in_range(0.0, 60.0): 2 rows, e.g. -1.0`.
reports/validation.json is written either way, so a failed run can be inspected and a passed one
records what was checked (rows, class shares, the table's SHA-256 that prepare verifies).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from ml.core.features import CLASS_NAMES, TARGET
from ml.core.params import ValidateParams, stage_params
from ml.core.paths import REPO_ROOT, VALIDATION_REPORT
from ml.pipeline.ingest import raw_table_path
from ml.pipeline.schema import build_schema, read_table

EXAMPLES = 3
# Rules that compare values; meaningless (TypeErrors) on a column of the wrong type.
VALUE_RULES = ("in_range", "isin", "max_null_fraction", "min_class_fraction")


@dataclass(frozen=True)
class Violation:
    column: str | None  # None: a rule about the whole table
    rule: str
    found: str

    def __str__(self) -> str:
        where = f"column '{self.column}'" if self.column is not None else "table"
        return f"{where} breaks {self.rule}: {self.found}"


class ValidationError(Exception):
    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("\n".join(f"validate: {violation}" for violation in violations))
        self.violations = violations


def repo_relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _found(table: pd.DataFrame, column: str | None, rule: str, cases: pd.DataFrame) -> str:
    """What the table holds instead, in words: the failure cases of table-wide rules say little."""
    if rule.startswith("min_rows"):
        return f"{len(table)} rows"
    if rule.startswith("max_null_fraction") and column is not None:
        nulls = int(table[column].isna().sum())
        return f"{nulls} of {len(table)} values are null"
    if rule.startswith("min_class_fraction"):
        return f"class shares {_class_fractions(table[TARGET])}"
    if rule.startswith("dtype") and column is not None:
        return f"found {table[column].dtype}"
    examples = ", ".join(str(value) for value in cases["failure_case"].unique()[:EXAMPLES])
    return f"{len(cases)} row{'' if len(cases) == 1 else 's'}, e.g. {examples}"


def _violations(table: pd.DataFrame, failures: pd.DataFrame) -> list[Violation]:
    violations: list[Violation] = []
    mistyped = set(failures.loc[failures["check"].str.startswith("dtype"), "column"])
    for (context, column, rule), cases in failures.groupby(
        ["schema_context", "column", "check"], sort=False, dropna=False
    ):
        if context == "DataFrameSchema" and rule == "column_in_schema":
            violations.extend(
                Violation(str(c), "strict columns", "not declared in the schema")
                for c in cases["failure_case"]
            )
        elif context == "DataFrameSchema" and rule == "column_in_dataframe":
            violations.extend(
                Violation(str(c), "required column", "missing from the table")
                for c in cases["failure_case"]
            )
        elif context == "DataFrameSchema":
            violations.append(Violation(None, str(rule), _found(table, None, str(rule), cases)))
        elif column not in mistyped or not str(rule).startswith(VALUE_RULES):
            column = str(column)
            violations.append(Violation(column, str(rule), _found(table, column, str(rule), cases)))
    return violations


def validate(table: pd.DataFrame, params: ValidateParams) -> list[Violation]:
    """Every rule the table breaks (all of them, not just the first)."""
    try:
        build_schema(params).validate(table, lazy=True)
    except pa.errors.SchemaErrors as error:
        return _violations(table, error.failure_cases)
    return []


def _class_fractions(target: pd.Series) -> dict[str, float]:
    shares = target.value_counts(normalize=True)
    return {name: round(float(shares.get(code, 0.0)), 4) for code, name in enumerate(CLASS_NAMES)}


def build_report(source: Path, table: pd.DataFrame | None, violations: list[Violation]) -> dict:
    report: dict[str, Any] = {
        "passed": not violations,
        "source": repo_relative(source),
        "sha256": sha256(source) if source.is_file() else None,
    }
    if table is not None:
        report["rows"] = len(table)
        report["columns"] = len(table.columns)
        if TARGET in table and pd.api.types.is_integer_dtype(table[TARGET]):
            report["class_fractions"] = _class_fractions(table[TARGET])
    report["violations"] = [asdict(violation) for violation in violations]
    return report


def run(source: Path, params: ValidateParams, report_file: Path) -> dict:
    """Validate `source`, write the report, then raise ValidationError on any violation."""
    table: pd.DataFrame | None = None
    try:
        table = read_table(source)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        violations = [Violation(None, "readable CSV", f"{type(error).__name__}: {error}")]
    else:
        violations = validate(table, params)
    report = build_report(source, table, violations)
    report_file.parent.mkdir(parents=True, exist_ok=True)
    report_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if violations:
        raise ValidationError(violations)
    return report


def main() -> None:
    params = stage_params()
    try:
        report = run(raw_table_path(params), params.validate_, VALIDATION_REPORT)
    except ValidationError as failure:
        raise SystemExit(f"{failure}\nvalidate: see {repo_relative(VALIDATION_REPORT)}") from None
    print(f"validate: {report['rows']} rows pass the schema")


if __name__ == "__main__":
    main()
