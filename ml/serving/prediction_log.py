"""Prediction logging: what the service saw and answered, kept for drift detection.

The service calls `PredictionLogger.log()` per model call. It only draws the sampling decision
and appends a reference to a bounded in-memory deque: no lock, no serialization and no I/O on
the request path. A background thread wakes a few times a second (not per request: waking it
would cost the request a thread switch), batches records and writes one JSON-lines file (or S3
object) per batch, partitioned `date=YYYY-MM-DD/hour=HH/`. The thread makes no system call per
record either: each one releases the GIL, and taking it back stalls the serving thread. A full
queue drops the request, a failing sink drops the batch: both are counted and never reach the
caller.

One line per row; `batch_id` is shared by the rows of one `log()` call (in the service, one
model call: adaptive batching merges the rows of concurrent requests into it):
  {"timestamp": "2025-01-31T12:00:00.000000+00:00", "batch_id": "...", "bento_tag": "...",
   "features": {"mean radius": 14.1, ...}, "prediction": {"class": "benign", "probability": 0.97}}

Where (ml/serving/log_sinks.py), without PREDICTION_LOG_URL: the repository's data/predictions/
when the code runs from a source checkout; inside a bento (`bentoml serve` from the store, a
container), a `predictions` folder in the temporary directory, the one place a read-only
container still writes to.

The layout (variables, default folder, partitions) lives in ml/core/prediction_log_layout.py;
ml/monitoring/log_reader.py reads the log back by it for drift detection.

Construct the logger in the service's `__init__`, not at module import: the Prometheus counters
are created then, after BentoML has put the client into multiprocess mode for /metrics.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import random
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

import orjson

from ml.core.params import MonitoringParams, load_params
from ml.core.prediction_log_layout import LOG_SUFFIX, SAMPLE_RATE_ENV, URL_ENV, hour_partition
from ml.serving.log_sinks import Sink, default_log_dir, sink_from_url

_WARN_EVERY_S = 60.0
# How often the writer looks at the queue between flushes.
_POLL_S = 0.2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Metrics:
    records: Any
    dropped: Any
    failures: Any


@cache
def _metrics() -> _Metrics:
    # Imported here, not at module top: prometheus_client picks single- or multiprocess mode at
    # import, and BentoML sets PROMETHEUS_MULTIPROC_DIR only after importing the service module.
    import prometheus_client

    return _Metrics(
        records=prometheus_client.Counter(
            "prediction_log_records", "Prediction rows written to the prediction log sink."
        ),
        dropped=prometheus_client.Counter(
            "prediction_log_dropped",
            "Prediction rows not logged: queue_full, sink_error (write failed) or invalid input.",
            ["reason"],
        ),
        failures=prometheus_client.Counter(
            "prediction_log_failures", "Failed writes of a batch to the prediction log sink."
        ),
    )


class _Request(NamedTuple):
    """One logged call, kept as the caller passed it: serialized on the writer thread."""

    rows: Any
    predictions: Sequence[Any]
    columns: Sequence[str] | None
    bento_tag: str
    epoch: float


_STOP = object()


def _prediction(value: Any) -> dict[str, Any]:
    """A `(class, probability)` pair, or a mapping or object with `label` and `probability`."""
    # The service's answers (objects) first: a Mapping check is an ABC lookup per row.
    if (probability := getattr(value, "probability", None)) is not None:
        label = value.label
    elif isinstance(value, Mapping):
        label = value["class"] if "class" in value else value["label"]
        probability = value["probability"]
    else:
        label, probability = value
    return {"class": str(label), "probability": float(probability)}


def _row_dicts(rows: Any, columns: Sequence[str] | None) -> Iterable[Mapping[str, Any]]:
    """Feature name -> value per row, from mappings, pydantic models (by alias), a DataFrame, or
    a 2-D array with its column names."""
    if columns is not None:
        rows = rows.tolist() if hasattr(rows, "tolist") else rows
        return (dict(zip(columns, row, strict=True)) for row in rows)
    if hasattr(rows, "to_dict"):
        return rows.to_dict("records")
    return (row.model_dump(by_alias=True) if hasattr(row, "model_dump") else row for row in rows)


@lru_cache(maxsize=64)
def _partition(hours_since_epoch: int) -> str:
    return hour_partition(datetime.fromtimestamp(hours_since_epoch * 3600, UTC))


class PredictionLogger:
    """Samples requests and writes their rows and predictions to a sink in the background."""

    def __init__(
        self,
        sink: Sink,
        *,
        sample_rate: float = 1.0,
        queue_size: int = 10_000,
        batch_rows: int = 1000,
        flush_seconds: float = 30.0,
        bento_tag: str = "",
        seed: int | None = None,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample rate must be within [0, 1], got {sample_rate}")
        self.sink = sink
        self.sample_rate = sample_rate
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.bento_tag = bento_tag
        self.queue_size = queue_size
        self._random = random.Random(seed)  # noqa: S311 - sampling, not security
        # append() and popleft() are atomic: the request thread never waits for the writer.
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        # Batch ids: random per logger, then counted (uuid4 per batch is a system call each).
        prefix = uuid.uuid4().hex[:16]
        self._batch_ids = (f"{prefix}-{n}" for n in itertools.count())
        self._metrics = _metrics()
        self._last_warning = 0.0
        self._suppressed = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    @classmethod
    def from_env(
        cls, *, bento_tag: str = "", params: MonitoringParams | None = None
    ) -> PredictionLogger:
        """Sink from PREDICTION_LOG_URL (default: `default_log_dir()`), sample rate from
        PREDICTION_LOG_SAMPLE_RATE or params.yaml's monitoring section (0: nothing is logged)."""
        settings = params or load_params().monitoring
        rate = settings.log_sample_rate
        if raw := os.environ.get(SAMPLE_RATE_ENV):
            try:
                rate = float(raw)
            except ValueError:
                raise ValueError(f"{SAMPLE_RATE_ENV}: not a number: {raw!r}") from None
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{SAMPLE_RATE_ENV}: must be within [0, 1], got {raw!r}")
        return cls(
            sink_from_url(os.environ.get(URL_ENV) or str(default_log_dir())),
            sample_rate=rate,
            queue_size=settings.log_queue_size,
            batch_rows=settings.log_batch_rows,
            flush_seconds=settings.log_flush_seconds,
            bento_tag=bento_tag,
        )

    def log(
        self,
        rows: Any,
        predictions: Sequence[Any],
        *,
        columns: Sequence[str] | None = None,
        bento_tag: str | None = None,
        timestamp: float | None = None,
    ) -> bool:
        """Queue one request: `rows` are feature mappings, pydantic rows, a DataFrame, or a 2-D
        array of values in the order of `columns` (the cheapest: nothing is built per row);
        `predictions` hold one class + probability per row (see `_prediction`).

        Returns whether the request was queued. Never raises for a sink problem and never
        blocks; the caller must not mutate `rows` afterwards (they are serialized later).
        """
        if self._closed or self._random.random() >= self.sample_rate:
            return False
        request = _Request(
            rows,
            predictions,
            columns,
            self.bento_tag if bento_tag is None else bento_tag,
            time.time() if timestamp is None else timestamp,
        )
        if len(self._queue) >= self.queue_size:
            self._metrics.dropped.labels(reason="queue_full").inc(len(predictions))
            self._warn("prediction log queue full: dropping requests (writer behind the sink)")
            return False
        self._queue.append(request)
        return True

    def flush(self, timeout: float = 30.0) -> bool:
        """Write everything queued so far; True when done within `timeout` seconds."""
        if self._closed:
            return True
        done = threading.Event()
        self._queue.append(done)
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Flush what is queued and stop the writer; later log() calls are ignored."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._queue.append(_STOP)
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._warn("prediction log writer stuck in the sink; queued records are lost")

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self) -> None:
        batch: list[_Request] = []
        rows = 0
        deadline = time.monotonic() + self.flush_seconds
        while True:
            self._wake.wait(min(_POLL_S, max(0.0, deadline - time.monotonic())))
            self._wake.clear()
            signal = None  # a flush() Event or _STOP, handled once what precedes it is written
            while signal is None and self._queue:
                item = self._queue.popleft()
                if isinstance(item, _Request):
                    batch.append(item)
                    rows += len(item.predictions)
                else:
                    signal = item
            if signal is None and rows < self.batch_rows and time.monotonic() < deadline:
                continue
            self._write(batch)
            batch, rows = [], 0
            deadline = time.monotonic() + self.flush_seconds
            if signal is _STOP:
                return
            if isinstance(signal, threading.Event):
                signal.set()
                self._wake.set()  # more may wait behind the flush request

    def _write(self, batch: list[_Request]) -> None:
        parts: dict[str, list[bytes]] = defaultdict(list)
        for request in batch:
            try:
                lines = _lines(request, next(self._batch_ids))
                parts[_partition(int(request.epoch // 3600))].extend(lines)
            except Exception as error:  # one malformed request loses itself, not the batch
                self._metrics.dropped.labels(reason="invalid").inc(len(request.predictions))
                self._warn(f"prediction log request not serializable: {error!r}")
        for partition, lines in parts.items():
            key = f"{partition}/{int(time.time() * 1000)}-{uuid.uuid4().hex[:12]}{LOG_SUFFIX}"
            try:
                self.sink.write(key, b"\n".join(lines) + b"\n")
            except Exception as error:  # any sink failure is counted, never raised
                self._metrics.failures.inc()
                self._metrics.dropped.labels(reason="sink_error").inc(len(lines))
                self._warn(f"prediction log write to {self.sink!r} failed: {error!r}")
            else:
                self._metrics.records.inc(len(lines))

    def _warn(self, message: str) -> None:
        # One warning per minute at most: a dead sink must not flood the service's logs.
        now = time.monotonic()
        if now - self._last_warning < _WARN_EVERY_S and self._last_warning:
            self._suppressed += 1
            return
        suffix = f" ({self._suppressed} similar warnings suppressed)" if self._suppressed else ""
        log.warning("%s%s", message, suffix)
        self._last_warning, self._suppressed = now, 0


def _lines(request: _Request, batch_id: str) -> list[bytes]:
    stamp = datetime.fromtimestamp(request.epoch, UTC).isoformat(timespec="microseconds")
    # orjson: a tenth of json's time per row, and numpy scalars as numbers.
    return [
        orjson.dumps(
            {
                "timestamp": stamp,
                "batch_id": batch_id,
                "bento_tag": request.bento_tag,
                "features": features,
                "prediction": _prediction(prediction),
            },
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
        for features, prediction in zip(
            _row_dicts(request.rows, request.columns), request.predictions, strict=True
        )
    ]
