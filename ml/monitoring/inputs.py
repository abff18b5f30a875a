"""The drift check's inputs: the rows to judge (prediction logs or a CSV) and the training rows.

Every problem with an input raises DriftInputError naming the source and what is wrong with it,
before any statistics run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from ml.core.features import CLASS_NAMES, FEATURE_NAMES, TARGET
from ml.core.params import MonitoringParams
from ml.core.paths import REPO_ROOT
from ml.core.s3 import s3_client, split_s3_url
from ml.monitoring.log_reader import LogReadError, read_records

PREDICTED_CLASS = "predicted_class"
# Columns a CSV of rows may carry besides the features (an exported test set, a log export).
OPTIONAL_COLUMNS = frozenset({TARGET, PREDICTED_CLASS, "probability", "timestamp", "bento_tag"})


class DriftInputError(ValueError):
    """The data can't be judged; the message says what is wrong and where."""


@dataclass(frozen=True)
class Sample:
    """Feature rows and, when known, the class predicted for each row."""

    features: pd.DataFrame
    classes: pd.Series | None
    source: str
    classes_basis: str


def shown_location(location: str | Path) -> str:
    """A path as the report shows it: relative to the repository when inside it."""
    path = Path(location)
    if str(location).startswith("s3://") or not path.is_absolute():
        return str(location)
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def _read_csv(source: str) -> pd.DataFrame:
    try:
        if source.startswith("s3://"):
            bucket, key = split_s3_url(source)
            body = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
            return pd.read_csv(io.BytesIO(body))
        return pd.read_csv(source)
    except FileNotFoundError:
        raise DriftInputError(f"{source}: no such file") from None
    except pd.errors.EmptyDataError:
        raise DriftInputError(f"{source}: empty file, no rows") from None
    except pd.errors.ParserError as error:
        raise DriftInputError(f"{source}: not a CSV table ({error})") from None
    except (BotoCoreError, ClientError) as error:
        raise DriftInputError(f"{source}: can't read from S3 ({error})") from None


def _numeric_features(table: pd.DataFrame, source: str, extra: frozenset[str]) -> pd.DataFrame:
    """The FEATURE_NAMES columns as floats; names every unknown, missing or non-numeric one."""
    if table.empty:
        raise DriftInputError(f"{source}: no rows")
    unknown = sorted(set(table.columns) - set(FEATURE_NAMES) - extra)
    if unknown:
        raise DriftInputError(
            f"{source}: unknown columns {unknown}; expected the feature names of "
            f"ml/core/features.py (plus optionally {sorted(extra)})"
        )
    missing = [name for name in FEATURE_NAMES if name not in table.columns]
    if missing:
        raise DriftInputError(f"{source}: missing columns {missing}")
    features = table[list(FEATURE_NAMES)].apply(pd.to_numeric, errors="coerce")
    bad = {name: int(count) for name, count in features.isna().sum().items() if count}
    if bad:
        raise DriftInputError(f"{source}: missing or non-numeric values (rows per column): {bad}")
    return features.astype(float)


def _class_names(values: pd.Series, source: str) -> pd.Series:
    unknown = sorted(set(values.astype(str)) - set(CLASS_NAMES))
    if unknown:
        raise DriftInputError(f"{source}: unknown predicted classes {unknown}")
    return values.astype(str)


def load_current(source: str, *, hours: float | None = None) -> Sample:
    """Rows to judge: prediction logs (folder, .jsonl file, s3:// prefix) or a CSV of rows."""
    if source.lower().endswith(".csv"):
        table = _read_csv(source)
        features = _numeric_features(table, source, OPTIONAL_COLUMNS)
        if PREDICTED_CLASS not in table.columns:
            return Sample(features, None, source, "")
        return Sample(features, _class_names(table[PREDICTED_CLASS], source), source, "CSV column")
    try:
        records = read_records(source, hours=hours)
    except LogReadError as error:
        raise DriftInputError(str(error)) from None
    except (BotoCoreError, ClientError) as error:
        raise DriftInputError(f"{source}: can't read from S3 ({error})") from None
    if not records:
        window = f" in the last {hours:g} hours" if hours else ""
        raise DriftInputError(f"{source}: no prediction-log records{window}")
    table = pd.DataFrame.from_records([record["features"] for record in records])
    features = _numeric_features(table, source, frozenset())
    predicted = [(record.get("prediction") or {}).get("class") for record in records]
    if any(label is None for label in predicted):
        return Sample(features, None, source, "")
    return Sample(features, _class_names(pd.Series(predicted), source), source, "served model")


def load_reference(path: str) -> Sample:
    """The training rows, with their labels as classes until a model's predictions replace them."""
    if not path.startswith("s3://") and not Path(path).exists():
        raise DriftInputError(f"reference {path} not found: run `dvc repro` (or `dvc pull`)")
    table = _read_csv(path)
    features = _numeric_features(table, path, OPTIONAL_COLUMNS)
    if TARGET in table.columns:
        labels = table[TARGET].map(dict(enumerate(CLASS_NAMES)))
        if labels.notna().all():
            return Sample(features, labels, path, "reference labels")
    return Sample(features, None, path, "")


def with_model_classes(
    reference: Sample, current: Sample, model_file: Path | None
) -> tuple[Sample, Sample]:
    """Predicted classes from the model for the reference (predicted vs predicted is the fair
    comparison) and for current rows that came without them. Without a model: unchanged."""
    if model_file is None or not model_file.exists():
        return reference, current
    import joblib

    def predict(sample: Sample, basis: str) -> Sample:
        try:
            encoded = model.predict(sample.features)
            classes = pd.Series([CLASS_NAMES[int(v)] for v in encoded], index=sample.features.index)
        except Exception as error:  # a stale or foreign model file: say which, don't guess
            raise DriftInputError(f"{model_file}: can't predict classes ({error!r})") from None
        return replace(sample, classes=classes, classes_basis=basis)

    model = joblib.load(model_file)
    shown = f"predictions of {shown_location(model_file)}"
    reference = predict(reference, f"{shown} on the reference")
    if current.classes is None:
        current = predict(current, shown)
    return reference, current


def check_size(current: Sample, settings: MonitoringParams) -> None:
    if len(current.features) < settings.min_rows:
        raise DriftInputError(
            f"{current.source}: {len(current.features)} rows, need at least "
            f"{settings.min_rows} (monitoring.min_rows) for a verdict"
        )
