"""The prediction log's layout, shared by its writer (the service) and its reader (drift).

Where it goes (URL_ENV, else DEFAULT_LOG_DIR in a source checkout), how much is sampled
(SAMPLE_RATE_ENV), and how it is stored: JSON-lines files partitioned `date=YYYY-MM-DD/hour=HH/`.
Standard library only: infra/ reads URL_ENV to configure the model pods.
"""

from __future__ import annotations

from datetime import date, datetime

from ml.core.paths import DATA_DIR

# Git-ignored: logs are production data, not code.
DEFAULT_LOG_DIR = DATA_DIR / "predictions"
URL_ENV = "PREDICTION_LOG_URL"
SAMPLE_RATE_ENV = "PREDICTION_LOG_SAMPLE_RATE"
LOG_SUFFIX = ".jsonl"
DATE_PREFIX = "date="


def date_partition(day: date) -> str:
    """The folder of one day's files: `date=YYYY-MM-DD`."""
    return f"{DATE_PREFIX}{day:%Y-%m-%d}"


def hour_partition(moment: datetime) -> str:
    """The folder of one hour's files: `date=YYYY-MM-DD/hour=HH`, in `moment`'s time zone."""
    return f"{date_partition(moment.date())}/hour={moment:%H}"
