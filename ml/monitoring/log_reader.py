"""Reading the prediction log back: every logged row of a folder, a file or an s3:// prefix.

The service's writer (ml/serving/prediction_log.py) and this reader share only the layout in
ml/core/prediction_log_layout.py: JSON-lines files partitioned `date=YYYY-MM-DD/hour=HH/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ml.core.prediction_log_layout import DATE_PREFIX, LOG_SUFFIX, date_partition
from ml.core.s3 import s3_client, split_s3_url


class LogReadError(ValueError):
    """The logs can't be read; the message names the file and line."""


def _date_partitions(since: datetime, until: datetime) -> set[str]:
    days = (until.date() - since.date()).days
    return {date_partition(since.date() + timedelta(days=d)) for d in range(days + 1)}


def _in_window(key: str, dates: set[str] | None) -> bool:
    partition = next((part for part in key.split("/") if part.startswith(DATE_PREFIX)), None)
    return dates is None or partition is None or partition in dates


def _s3_log_files(source: str, dates: set[str] | None) -> Iterator[tuple[str, bytes]]:
    bucket, prefix = split_s3_url(source)
    client = s3_client()
    paginator = client.get_paginator("list_objects_v2")
    base = f"{prefix}/" if prefix else ""
    # With a time window, list only the date partitions it covers.
    windowed = dates is not None and DATE_PREFIX not in prefix
    prefixes = [f"{base}{date}/" for date in sorted(dates)] if dates and windowed else [base]
    for list_prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=list_prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith(LOG_SUFFIX) and _in_window(key, dates):
                    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                    yield f"s3://{bucket}/{key}", body


def _log_files(source: str, dates: set[str] | None) -> Iterator[tuple[str, bytes]]:
    """(name, content) of each log file under an s3:// prefix, a folder, or one file."""
    if source.startswith("s3://"):
        yield from _s3_log_files(source, dates)
        return
    path = Path(source)
    if not path.exists():
        raise LogReadError(f"{source}: no such file or folder")
    if not path.is_dir():
        yield source, path.read_bytes()
        return
    for file in sorted(path.rglob(f"*{LOG_SUFFIX}")):
        if _in_window(file.relative_to(path).as_posix(), dates):
            yield str(file), file.read_bytes()


def read_records(source: str, *, hours: float | None = None) -> list[dict[str, Any]]:
    """Every logged row under a folder, a file or an s3:// prefix, optionally of the last
    `hours` only. Raises LogReadError naming the file and line of a malformed record."""
    now = datetime.now(UTC)
    since = now - timedelta(hours=hours) if hours else None
    dates = _date_partitions(since, now) if since else None
    records: list[dict[str, Any]] = []
    for name, content in _log_files(source, dates):
        for number, line in enumerate(content.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                features, prediction = record["features"], record.get("prediction")
                if not isinstance(features, dict):
                    raise TypeError("'features' is not an object")
                stamp = datetime.fromisoformat(record["timestamp"])
            except (ValueError, KeyError, TypeError) as error:
                raise LogReadError(
                    f"{name}:{number}: not a prediction-log record ({error})"
                ) from None
            if since is not None and stamp < since:
                continue
            records.append({"features": features, "prediction": prediction})
    return records
