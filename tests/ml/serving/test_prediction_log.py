"""Prediction logging: records reach a folder and S3 (moto), sampling holds, a failing or slow
sink never reaches the caller and is counted."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import joblib
import numpy as np
import pandas as pd
import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ml.serving.log_sinks
from ml.bench.log_overhead import measure_overhead
from ml.core.features import FEATURE_NAMES
from ml.core.params import load_params
from ml.core.prediction_log_layout import DEFAULT_LOG_DIR, SAMPLE_RATE_ENV, URL_ENV
from ml.monitoring.log_reader import LogReadError, read_records
from ml.serving.log_sinks import FolderSink, S3Sink, default_log_dir, sink_from_url
from ml.serving.prediction_log import PredictionLogger
from tests.support.network import free_port

ROW = dict.fromkeys(FEATURE_NAMES, 1.5)


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def logged_lines(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for file in sorted(folder.rglob("*.jsonl"))
        for line in file.read_text().splitlines()
    ]


class RaisingSink:
    def write(self, key: str, body: bytes) -> None:
        raise ConnectionError("sink down")


class BlockingSink(FolderSink):
    """Holds the writer thread inside write() until released."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.release = threading.Event()

    def write(self, key: str, body: bytes) -> None:
        self.release.wait(10)
        super().write(key, body)


def test_records_land_in_folder_partitioned_by_hour(tmp_path: Path) -> None:
    class Prediction(BaseModel):  # the service's answer type has the same two fields
        label: str
        probability: float

    written = counter("prediction_log_records_total")
    stamp = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp()
    with PredictionLogger(FolderSink(tmp_path), bento_tag="clf:abc") as logger:
        assert logger.log([ROW, ROW], [("benign", 0.9), ("malignant", 0.8)], timestamp=stamp)
        logger.log(pd.DataFrame([ROW]), [{"class": "benign", "probability": 0.7}], timestamp=stamp)
        logger.log([ROW], [Prediction(label="malignant", probability=0.6)], timestamp=stamp)
        values = np.array([list(ROW.values())])
        logger.log(values, [("benign", 0.5)], columns=list(ROW), timestamp=stamp)

    files = list(tmp_path.rglob("*.jsonl"))
    assert files and all(
        f.parent.relative_to(tmp_path).as_posix() == "date=2025-03-04/hour=05" for f in files
    )
    records = logged_lines(tmp_path)
    assert [r["prediction"] for r in records] == [
        {"class": "benign", "probability": 0.9},
        {"class": "malignant", "probability": 0.8},
        {"class": "benign", "probability": 0.7},
        {"class": "malignant", "probability": 0.6},
        {"class": "benign", "probability": 0.5},
    ]
    assert all(r["features"] == ROW and r["bento_tag"] == "clf:abc" for r in records)
    assert records[0]["timestamp"] == "2025-03-04T05:06:07.000000+00:00"
    assert records[0]["batch_id"] == records[1]["batch_id"] != records[2]["batch_id"]
    assert counter("prediction_log_records_total") - written == 5
    assert not list(tmp_path.rglob("*.part"))


def test_records_land_in_s3_and_read_back(aws_env: str) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="prediction-logs")
    old = (datetime.now(UTC) - timedelta(days=3)).timestamp()
    with PredictionLogger(S3Sink("prediction-logs", "predictions"), batch_rows=2) as logger:
        for _ in range(3):
            logger.log([ROW], [("benign", 0.9)])
        logger.log([ROW], [("malignant", 0.6)], timestamp=old)

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="prediction-logs")["Contents"]]
    assert len(keys) >= 2  # one object per flushed batch
    assert all(
        k.startswith("predictions/date=") and "/hour=" in k and k.endswith(".jsonl") for k in keys
    )
    assert len(read_records("s3://prediction-logs/predictions")) == 4
    recent = read_records("s3://prediction-logs/predictions", hours=24)
    assert [r["prediction"]["class"] for r in recent] == ["benign"] * 3


@pytest.mark.parametrize("rate", [0.0, 0.25, 1.0])
def test_sampling_rate_is_honoured(tmp_path: Path, rate: float) -> None:
    requests = 4000
    with PredictionLogger(FolderSink(tmp_path), sample_rate=rate, seed=7) as logger:
        queued = sum(logger.log([ROW], [("benign", 0.9)]) for _ in range(requests))
    logged = len(logged_lines(tmp_path))
    assert logged == queued
    # Binomial(4000, rate): four standard deviations either side.
    spread = 4 * (requests * rate * (1 - rate)) ** 0.5
    assert abs(logged - requests * rate) <= spread


def test_failing_sink_never_reaches_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    failures = counter("prediction_log_failures_total")
    lost = counter("prediction_log_dropped_total", reason="sink_error")
    with (
        caplog.at_level(logging.WARNING, "ml.serving.prediction_log"),
        PredictionLogger(RaisingSink(), batch_rows=1) as logger,
    ):
        for _ in range(3):  # three batches, three failed writes
            assert logger.log([ROW, ROW], [("benign", 0.9)] * 2)
            assert logger.flush()
    assert counter("prediction_log_failures_total") - failures == 3
    assert counter("prediction_log_dropped_total", reason="sink_error") - lost == 6
    warnings = [r for r in caplog.records if "sink down" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited


def test_malformed_request_loses_only_itself(tmp_path: Path) -> None:
    invalid = counter("prediction_log_dropped_total", reason="invalid")
    with PredictionLogger(FolderSink(tmp_path)) as logger:
        logger.log([ROW, ROW], [("benign", 0.9)])  # two rows, one prediction
        logger.log([ROW], [("malignant", 0.8)])
    assert counter("prediction_log_dropped_total", reason="invalid") - invalid == 1
    assert [r["prediction"]["class"] for r in logged_lines(tmp_path)] == ["malignant"]


def test_unreachable_s3_endpoint_is_counted(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    failures = counter("prediction_log_failures_total")
    # One attempt: the retries' back-off would only slow the test down.
    with PredictionLogger(S3Sink("prediction-logs", "predictions", attempts=1)) as logger:
        assert logger.log([ROW], [("benign", 0.9)])
        assert logger.flush()
    assert counter("prediction_log_failures_total") - failures == 1


def test_full_queue_drops_and_counts(tmp_path: Path) -> None:
    dropped = counter("prediction_log_dropped_total", reason="queue_full")
    sink = BlockingSink(tmp_path)
    logger = PredictionLogger(sink, queue_size=2, batch_rows=1)
    accepted = sum(logger.log([ROW], [("benign", 0.9)]) for _ in range(10))
    # The queue holds two requests; the writer, stuck in write(), at most the two it took.
    assert 2 <= accepted <= 4
    sink.release.set()
    logger.close()
    assert counter("prediction_log_dropped_total", reason="queue_full") - dropped == 10 - accepted
    assert len(logged_lines(tmp_path)) == accepted


def test_from_env_reads_url_and_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_ENV, f"file://{tmp_path}/logs")
    monkeypatch.setenv(SAMPLE_RATE_ENV, "0")
    logger = PredictionLogger.from_env(bento_tag="clf:1")
    assert logger.sample_rate == 0 and isinstance(logger.sink, FolderSink)
    assert logger.sink.root == tmp_path / "logs"
    assert isinstance(sink_from_url("s3://prediction-logs/predictions"), S3Sink)
    assert logger.batch_rows == load_params().monitoring.log_batch_rows
    logger.close()

    monkeypatch.setenv(SAMPLE_RATE_ENV, "1.5")
    with pytest.raises(ValueError, match=SAMPLE_RATE_ENV):
        PredictionLogger.from_env()
    monkeypatch.setenv(SAMPLE_RATE_ENV, "0.5")
    monkeypatch.setenv(URL_ENV, "ftp://host/logs")
    with pytest.raises(ValueError, match=URL_ENV):
        PredictionLogger.from_env()


def test_default_folder_is_the_checkout_s_or_a_temporary_one_in_a_bento(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_log_dir() == DEFAULT_LOG_DIR  # these tests run from a source checkout
    # A bento's source folder holds the modules and params.yaml, not dvc.yaml.
    monkeypatch.setattr(ml.serving.log_sinks, "CHECKOUT_MARKER", tmp_path / "dvc.yaml")
    monkeypatch.setattr(ml.serving.log_sinks.tempfile, "tempdir", str(tmp_path))
    assert default_log_dir() == tmp_path / "predictions"
    monkeypatch.delenv(URL_ENV, raising=False)
    with PredictionLogger.from_env() as logger:
        assert isinstance(logger.sink, FolderSink) and logger.sink.root == tmp_path / "predictions"


def test_malformed_log_line_is_named(tmp_path: Path) -> None:
    log = tmp_path / "bad.jsonl"
    log.write_text('{"features": {}, "timestamp": "2025-01-01T00:00:00+00:00"}\nnot json\n')
    with pytest.raises(LogReadError, match=r"bad.jsonl:2"):
        read_records(str(log))


def test_measure_overhead_runs(tmp_path: Path) -> None:
    data = load_breast_cancer(as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(data.data, data.target)
    joblib.dump(model, tmp_path / "model.joblib")
    data.frame.to_csv(tmp_path / "rows.csv", index=False)
    result = measure_overhead(
        50, 2, repeats=1, model_file=tmp_path / "model.joblib", rows_file=tmp_path / "rows.csv"
    )
    assert set(result) == {
        "rows_per_s_predict",
        "rows_per_s_predict_and_log",
        "overhead_percent",
        "log_call_us",
    }
    assert result["rows_per_s_predict"] > 0 and result["rows_per_s_predict_and_log"] > 0
    assert len(list(tmp_path.rglob("*.jsonl"))) == 0  # it logs to a folder of its own
