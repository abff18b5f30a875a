"""The production model a candidate is compared with: a local file, the registry, or none yet.

In this order: a model file named on the command line or in params.evaluate.champion.file (an
offline run); else the registry in the artifacts bucket, where the `production` alias names a
version whose model file `make publish` uploaded (ml/core/artifacts.py model_key). No bucket
configured means no registry here, and no alias yet means no production model yet: both are a
champion of None, said so, and the gate falls back to the thresholds. Everything else that goes
wrong (a bucket that cannot be read, an alias naming a version without a model file, a file that
does not load) is a ChampionError: the gate must never pass because a lookup failed.

Model files are pickles: loading one runs code from it, so they come only from this project's
own registry (written by its deploy role) or a file the user names.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import joblib
from botocore.exceptions import BotoCoreError, ClientError

from ml.core.artifacts import alias_key, model_key
from ml.core.paths import REPO_ROOT
from ml.core.s3 import error_code, is_missing_key, s3_client

PRODUCTION = "production"
Source = Literal["file", "registry", "none"]


class ChampionError(RuntimeError):
    """The production model could not be found or loaded; the message says why."""


@dataclass(frozen=True)
class Champion:
    """Where the production model came from and, unless there is none, the model itself."""

    source: Source
    note: str
    model: Any = None
    where: str | None = None
    version: str | None = None
    alias: str = PRODUCTION

    def record(self) -> dict[str, str | None]:
        """What reports/gate.json says about it (everything but the model)."""
        return {
            "source": self.source,
            "alias": self.alias,
            "version": self.version,
            "where": self.where,
            "note": self.note,
        }


def shown(path: Path) -> str:
    """A path as the user reads it: relative to the repository when it is inside."""
    absolute = path if path.is_absolute() else REPO_ROOT / path
    try:
        return absolute.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def load_classifier(data: Any, where: str) -> Any:
    """A model from a joblib file (a path or a file object) that can score rows."""
    try:
        model = joblib.load(data)
    # Unpickling raises whatever the pickled classes' code raises: any failure is "does not load".
    except Exception as error:
        raise ChampionError(f"{where} does not load as a model: {error!r}") from None
    if not callable(getattr(model, "predict_proba", None)):
        raise ChampionError(f"{where} holds a {type(model).__name__}, not a classifier")
    return model


def from_file(path: Path) -> Champion:
    name = shown(path)
    absolute = path if path.is_absolute() else REPO_ROOT / path
    if not absolute.is_file():
        raise ChampionError(f"champion file {name} not found")
    model = load_classifier(absolute, f"champion file {name}")
    return Champion("file", f"production model from the file {name}", model, where=name)


def _get(s3: Any, bucket: str, key: str) -> bytes | None:
    """The object's bytes, None when the key is not there; any other failure is an error."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error_code(error)
        if is_missing_key(error):
            return None
        hint = ""
        if code in {"AccessDenied", "403"}:
            # Without s3:ListBucket, S3 answers a missing key with 403 instead of 404.
            hint = " (reading the registry needs s3:GetObject and s3:ListBucket on the bucket)"
        raise ChampionError(f"cannot read s3://{bucket}/{key}: {error}{hint}") from None
    except BotoCoreError as error:
        raise ChampionError(f"cannot reach the registry s3://{bucket}: {error}") from None


def alias_version(body: bytes, where: str) -> str:
    try:
        record = json.loads(body)
    except json.JSONDecodeError as error:
        raise ChampionError(f"{where} is not valid JSON: {error}") from None
    version = record.get("version") if isinstance(record, dict) else None
    if not isinstance(version, str) or not version:
        raise ChampionError(f"{where} names no version")
    return version


def from_registry(bucket: str, name: str, s3: Any = None, stage: str = PRODUCTION) -> Champion:
    """The model the `stage` alias of `name` points at (`production` unless a stack's rollout
    compares with its own stage), or none when there is no alias."""
    s3 = s3 or s3_client()
    alias = f"s3://{bucket}/{alias_key(name, stage)}"
    body = _get(s3, bucket, alias_key(name, stage))
    if body is None:
        return Champion("none", f"no {stage} model yet (no {alias})", alias=stage)
    version = alias_version(body, alias)
    where = f"s3://{bucket}/{model_key(name, version)}"
    data = _get(s3, bucket, model_key(name, version))
    if data is None:
        raise ChampionError(
            f"{alias} names version {version}, but {where} is missing: publish that version "
            f"again (`make publish BENTO={name}:{version}`) to upload its model file"
        )
    model = load_classifier(io.BytesIO(data), where)
    note = f"{stage} model {name}:{version} from the registry"
    return Champion("registry", note, model, where=where, version=version, alias=stage)


def find_champion(
    name: str,
    file: Path | None = None,
    bucket: str | None = None,
    s3: Any = None,
    stage: str = PRODUCTION,
) -> Champion:
    """The local file when one is named, else the registry when a bucket is, else none."""
    if file is not None:
        return from_file(file)
    if not bucket:
        note = "no registry configured (--bucket or ARTIFACTS_BUCKET)"
        return Champion("none", note, alias=stage)
    return from_registry(bucket, name, s3, stage)
