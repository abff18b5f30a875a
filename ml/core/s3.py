"""S3 access shared by the prediction-log writer, the drift check's readers and the registry."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse


def s3_client(attempts: int = 3) -> Any:
    """An S3 client that fails fast: a dead endpoint must not hold batches for minutes.

    boto3 reads AWS_ENDPOINT_URL itself, so S3-compatible stores and moto need no code here.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=5, read_timeout=15, retries={"max_attempts": attempts, "mode": "standard"}
    )
    return boto3.client("s3", config=config)


# S3's codes for a key that is not there: GetObject says NoSuchKey, HeadObject a bare 404.
MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def error_code(error: Exception) -> str:
    """The code of botocore's ClientError (`response["Error"]["Code"]`), "" for anything else."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_missing_key(error: Exception) -> bool:
    """Whether the S3 error says the key (or object) is not there."""
    return error_code(error) in MISSING_KEY_CODES


def split_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` as (bucket, prefix without surrounding slashes)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
    return parsed.netloc, parsed.path.strip("/")
