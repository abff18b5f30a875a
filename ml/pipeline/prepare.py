"""Stage 3, prepare: split the validated raw table into a training and a test set.

The split is stratified on the target, so both sets keep the classes' shares, and seeded
(params.prepare.seed), so the same table always gives the same two files. Only a table that passed
the validate stage is split: its report must say so and name the same SHA-256.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from ml.core.features import TARGET
from ml.core.params import PrepareParams, stage_params
from ml.core.paths import TEST_FILE, TRAIN_FILE, VALIDATION_REPORT
from ml.pipeline.ingest import raw_table_path
from ml.pipeline.schema import read_table, write_table
from ml.pipeline.validate import repo_relative, sha256


class UnvalidatedTableError(Exception):
    """The raw table has no passing validation report (or the table changed since)."""


def check_validated(source: Path, report_file: Path) -> None:
    hint = "run `dvc repro validate`"
    if not report_file.is_file():
        raise UnvalidatedTableError(f"{repo_relative(report_file)} is missing: {hint}")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    if not report.get("passed"):
        raise UnvalidatedTableError(
            f"{repo_relative(source)} failed validation, see {repo_relative(report_file)}"
        )
    if report.get("sha256") != sha256(source):
        raise UnvalidatedTableError(
            f"{repo_relative(source)} changed after it was validated: {hint}"
        )


def split(table: pd.DataFrame, params: PrepareParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = train_test_split(
        table, test_size=params.test_size, random_state=params.seed, stratify=table[TARGET]
    )
    return train, test


def prepare(
    source: Path, params: PrepareParams, report_file: Path, train_file: Path, test_file: Path
) -> tuple[int, int]:
    check_validated(source, report_file)
    train, test = split(read_table(source), params)
    write_table(train, train_file)
    write_table(test, test_file)
    return len(train), len(test)


def main() -> None:
    params = stage_params()
    try:
        rows = prepare(
            raw_table_path(params), params.prepare, VALIDATION_REPORT, TRAIN_FILE, TEST_FILE
        )
    except UnvalidatedTableError as error:
        raise SystemExit(f"prepare: {error}") from None
    print(f"prepare: {rows[0]} training rows, {rows[1]} test rows")


if __name__ == "__main__":
    main()
