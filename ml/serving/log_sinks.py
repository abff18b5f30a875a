"""Where the prediction log's batches go: a local folder or an S3 prefix, chosen by URL.

A sink is called on the logger's writer thread only, one batch (one JSON-lines body) at a time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from ml.core.paths import REPO_ROOT
from ml.core.prediction_log_layout import DEFAULT_LOG_DIR, URL_ENV
from ml.core.s3 import s3_client, split_s3_url

# Only a source checkout has it; a bento carries the modules and params.yaml alone.
CHECKOUT_MARKER = REPO_ROOT / "dvc.yaml"


class Sink(Protocol):
    def write(self, key: str, body: bytes) -> None:
        """Store `body` under the relative `key` (date=.../hour=.../name.jsonl)."""
        ...


class FolderSink:
    """JSON-lines files under a local folder; each written whole, then renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, key: str, body: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        # A reader never sees half a file: write next to it, then rename atomically.
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as tmp:
            tmp.write(body)
        Path(tmp.name).replace(target)

    def __repr__(self) -> str:
        return f"FolderSink({self.root})"


class S3Sink:
    """One object per batch under s3://bucket/prefix/ (the bucket's default encryption applies)."""

    def __init__(self, bucket: str, prefix: str, attempts: int = 3) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.attempts = attempts
        self._client: Any = None

    def write(self, key: str, body: bytes) -> None:
        if self._client is None:  # created on the writer thread, off the request path
            self._client = s3_client(self.attempts)
        full_key = f"{self.prefix}/{key}" if self.prefix else key
        self._client.put_object(
            Bucket=self.bucket, Key=full_key, Body=body, ContentType="application/x-ndjson"
        )

    def __repr__(self) -> str:
        return f"S3Sink(s3://{self.bucket}/{self.prefix})"


def sink_from_url(url: str) -> Sink:
    """`file:///abs/dir`, `file://relative/dir`, a plain path, or `s3://bucket/prefix`."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        return S3Sink(*split_s3_url(url))
    if parsed.scheme == "file":
        return FolderSink(Path(parsed.netloc + parsed.path))
    if parsed.scheme == "":
        return FolderSink(Path(url))
    raise ValueError(
        f"{URL_ENV}: unsupported scheme {parsed.scheme!r} in {url!r}; use file:// or s3://"
    )


def default_log_dir() -> Path:
    """The repository's data/predictions in a source checkout, else the temporary directory's
    `predictions` folder (a bento: `make serve` and `make run` pass the repository's instead)."""
    if CHECKOUT_MARKER.is_file():
        return DEFAULT_LOG_DIR
    return Path(tempfile.gettempdir()) / "predictions"
