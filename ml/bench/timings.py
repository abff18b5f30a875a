"""In-process timings `make bench` reports beside the load: the model's own predict rate."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

from ml.core.paths import SAMPLE_REQUEST


class BenchError(RuntimeError):
    """The benchmark cannot run; the message says why."""


def predict_rows_per_s(model_file: Path, batch: int, seconds: float = 1.5) -> float:
    """The model's own predict_proba rows/s in this process, one OpenMP thread, fixed batch."""
    import joblib
    import pandas as pd
    from threadpoolctl import threadpool_limits

    model = joblib.load(model_file)
    rows = json.loads(SAMPLE_REQUEST.read_text(encoding="utf-8"))["rows"]
    table = pd.DataFrame([rows[i % len(rows)] for i in range(batch)])
    features = table[list(model.feature_names_in_)].to_numpy()
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an array for a model fitted on named columns
        model.predict_proba(features)
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            model.predict_proba(features)
            calls += 1
    return calls * batch / elapsed
