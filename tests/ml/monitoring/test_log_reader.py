"""Prediction logs as drift input: local folders, single files and s3:// prefixes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pandas as pd
import pytest

from ml.core.features import FEATURE_NAMES
from ml.monitoring import drift
from ml.serving.log_sinks import FolderSink, S3Sink
from ml.serving.prediction_log import PredictionLogger
from tests.ml.monitoring.drift_support import SHIFTED, Data, run_drift, shifted


def log_rows(folder: Path, rows: pd.DataFrame, label: str) -> None:
    stamp = datetime(2025, 6, 1, 12, tzinfo=UTC).timestamp()
    with PredictionLogger(FolderSink(folder), bento_tag="clf:test") as logger:
        for start in range(0, len(rows), 10):
            chunk = rows.iloc[start : start + 10][list(FEATURE_NAMES)]
            logger.log(chunk.to_dict("records"), [(label, 0.9)] * len(chunk), timestamp=stamp)


def test_prediction_logs_are_judged_with_their_predictions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Data
) -> None:
    logs = tmp_path / "predictions"
    log_rows(logs, shifted(data.held_out), "malignant")
    result = run_drift(capsys, data, tmp_path / "out", logs)
    assert result.code == drift.EXIT_OK, result.err
    report = result.report
    assert report is not None and report["drift_detected"] is True
    assert report["drifted_features"] == SHIFTED
    classes = report["class_shift"]
    assert classes["detected"] is True and classes["current"] == {"malignant": 1.0, "benign": 0.0}
    assert classes["current_basis"] == "served model"

    (log_file,) = logs.rglob("*.jsonl")  # one flush, one hour: one file
    single = run_drift(capsys, data, tmp_path / "one", log_file)
    assert single.report is not None and single.report["n_current"] == len(data.held_out)


def test_logs_and_reference_in_s3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Data, aws_env: str
) -> None:
    """The in-cluster CronJob's way: the last hours of logs under an s3:// prefix."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="drift-logs")
    s3.upload_file(str(data.reference), "drift-logs", "reference/train.csv")
    rows = shifted(data.held_out)[list(FEATURE_NAMES)]
    with PredictionLogger(S3Sink("drift-logs", "predictions")) as logger:
        logger.log(rows.to_numpy(), [("benign", 0.9)] * len(rows), columns=list(FEATURE_NAMES))
        old = datetime(2020, 1, 1, tzinfo=UTC).timestamp()  # outside the window: left out
        logger.log(rows.head(5).to_dict("records"), [("malignant", 0.9)] * 5, timestamp=old)
    code = drift.main(
        ["--current", "s3://drift-logs/predictions", "--hours", "24",
         "--reference", "s3://drift-logs/reference/train.csv", "--out", str(tmp_path),
         "--model", str(data.model)]
    )  # fmt: skip
    assert code == drift.EXIT_OK, capsys.readouterr().err
    report = json.loads((tmp_path / drift.REPORT_JSON).read_text())
    assert report["n_current"] == len(rows) and report["drifted_features"] == SHIFTED
    assert report["current"] == "s3://drift-logs/predictions"
