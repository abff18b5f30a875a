"""Shared helpers for the drift tests: the shifted features, the `data` fixture's type,
and running the drift CLI in-process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ml.core.params import load_params
from ml.monitoring import drift

SETTINGS = load_params().monitoring

SHIFTED = ["mean radius", "worst area"]


@dataclass(frozen=True)
class Data:
    reference: Path  # train.csv as the pipeline writes it: the features and the target
    held_out: pd.DataFrame
    train: pd.DataFrame
    model: Path


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    report: dict[str, Any] | None


def run_drift(
    capsys: pytest.CaptureFixture[str], data: Data, out: Path, current: str | Path, *args: str
) -> Run:
    code = drift.main(
        [
            "--current", str(current), "--reference", str(data.reference),
            "--model", str(data.model), "--out", str(out), *args,
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    report_file = out / drift.REPORT_JSON
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    return Run(code, captured.out, captured.err, report)


def write_csv(table: pd.DataFrame, path: Path) -> Path:
    table.to_csv(path, index=False)
    return path


def shifted(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table[SHIFTED] *= 1.5
    return table
