"""What the prediction log costs the request path, measured in process (`make bench` reports it)."""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from ml.core.features import CLASS_NAMES, FEATURE_NAMES
from ml.core.paths import MODEL_FILE, TEST_FILE
from ml.serving.log_sinks import FolderSink
from ml.serving.prediction_log import PredictionLogger


def _request_batches(
    model_file: Path, rows_file: Path, requests: int, rows_per_request: int
) -> tuple[Any, list[str], list[Any]]:
    """The model, the feature columns, and `requests` float arrays sampled from `rows_file`."""
    import joblib
    import pandas as pd

    for needed in (model_file, rows_file):
        if not needed.exists():
            raise FileNotFoundError(f"{needed} not found: run `dvc repro` first")
    model = joblib.load(model_file)
    columns = list(FEATURE_NAMES)
    table = pd.read_csv(rows_file)[columns]
    # As the service does: rows as a float array, logged with their column names.
    batches = [
        table.sample(rows_per_request, replace=True, random_state=i).to_numpy(dtype=float)
        for i in range(requests)
    ]
    return model, columns, batches


def _timed_run(
    model: Any, columns: list[str], batches: list[Any], logger: PredictionLogger | None
) -> tuple[float, float]:
    """(rows/s, seconds spent inside log()) of predicting, and logging when given a logger."""
    in_log = 0.0
    total_rows = sum(len(rows) for rows in batches)
    start = time.perf_counter()
    for rows in batches:
        probabilities = model.predict_proba(rows)
        best = probabilities.argmax(axis=1)
        predictions = [(CLASS_NAMES[i], float(probabilities[r, i])) for r, i in enumerate(best)]
        if logger is not None:
            before = time.perf_counter()
            logger.log(rows, predictions, columns=columns)
            in_log += time.perf_counter() - before
    return total_rows / (time.perf_counter() - start), in_log


def measure_overhead(
    requests: int = 1000,
    rows_per_request: int = 1,
    *,
    repeats: int = 5,
    model_file: Path = MODEL_FILE,
    rows_file: Path = TEST_FILE,
) -> dict[str, float]:
    """In-process predict vs predict + log, in rows/s (logging to a temporary folder).

    Measures what the service's request path pays, writer thread included (it competes for the
    GIL). Runs alternate and the best of `repeats` counts, so a busy machine skews both alike;
    BLAS/OpenMP pools are held to one thread, as in the service.
    """
    from threadpoolctl import threadpool_limits

    model, columns, batches = _request_batches(model_file, rows_file, requests, rows_per_request)
    alone = logged = log_seconds = 0.0
    with (
        tempfile.TemporaryDirectory() as folder,
        threadpool_limits(1),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        logger = PredictionLogger(FolderSink(Path(folder)), queue_size=requests + 1)
        _timed_run(model, columns, batches, None)  # warm-up
        for _ in range(repeats):
            alone = max(alone, _timed_run(model, columns, batches, None)[0])
            rate, seconds = _timed_run(model, columns, batches, logger)
            if rate > logged:
                logged, log_seconds = rate, seconds
            logger.flush()  # each run starts with an empty queue
        logger.close()
    return {
        "rows_per_s_predict": alone,
        "rows_per_s_predict_and_log": logged,
        "overhead_percent": (alone / logged - 1.0) * 100.0,
        "log_call_us": log_seconds / requests * 1e6,
    }
