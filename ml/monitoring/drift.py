"""Data drift: do the rows the service sees still look like the rows the model learned from?

    python -m ml.monitoring.drift --current <folder|file.jsonl|file.csv|s3://bucket/prefix>
        [--reference data/prepared/train.csv] [--out reports] [--hours 24]
        [--fail-on-drift] [--pushgateway URL] [--dispatch]

Each feature is compared with the training data by a two-sample Kolmogorov-Smirnov test and by
its Population Stability Index (PSI, on quantile bins of the reference). It counts as drifted
only when both agree: the KS p-value, adjusted for testing every feature at once
(Benjamini-Hochberg), is below `fdr_alpha` AND the PSI reaches `psi_threshold`. The test alone
flags harmless shifts once logs hold many thousands of rows; the PSI alone is noisy on small
samples. The predicted-class mix is compared the same way (chi-square + PSI); a drifted feature
or a shifted class mix makes the verdict "drift detected".

Exit codes: 0 a verdict was written (drift or not: a CronJob must not retry and re-dispatch);
1 drift detected and --fail-on-drift given (for CI gates); 2 the input can't be judged (missing,
empty, too few rows, unknown or missing columns: no verdict is written); 3 the verdict was
written but pushing metrics or dispatching retraining failed.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import urllib.error
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError
from scipy import stats

from ml.core.features import CLASS_NAMES, FEATURE_NAMES, TARGET
from ml.core.identity import load_identity
from ml.core.params import MonitoringParams, ParamsError, load_params
from ml.core.paths import MODEL_FILE, REPO_ROOT, REPORTS_DIR, TRAIN_FILE
from ml.monitoring.report import render
from ml.serving.prediction_log import LogReadError, read_records, s3_client, split_s3_url

EXIT_OK, EXIT_DRIFT, EXIT_BAD_INPUT, EXIT_PUBLISH_FAILED = 0, 1, 2, 3
REPORT_JSON = "drift.json"
REPORT_HTML = "drift.html"
PUSH_JOB = "model-drift"
PREDICTED_CLASS = "predicted_class"
# Columns a CSV of rows may carry besides the features (an exported test set, a log export).
OPTIONAL_COLUMNS = frozenset({TARGET, PREDICTED_CLASS, "probability", "timestamp", "bento_tag"})
# Floor for an empty bin's share: keeps log(0) out of the PSI and caps one bin's contribution.
_PSI_FLOOR = 1e-4


class DriftInputError(ValueError):
    """The data can't be judged; the message says what is wrong and where."""


@dataclass(frozen=True)
class Sample:
    """Feature rows and, when known, the class predicted for each row."""

    features: pd.DataFrame
    classes: pd.Series | None
    source: str
    classes_basis: str


# --- Inputs --------------------------------------------------------------------------------


def _shown(location: str | Path) -> str:
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
    shown = f"predictions of {_shown(model_file)}"
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


# --- Statistics ----------------------------------------------------------------------------


def _psi_of_counts(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI = sum((actual - expected) * ln(actual / expected)) over the shares of each bin."""
    expected_shares = np.clip(expected / max(expected.sum(), 1), _PSI_FLOOR, None)
    actual_shares = np.clip(actual / max(actual.sum(), 1), _PSI_FLOOR, None)
    return float(
        np.sum((actual_shares - expected_shares) * np.log(actual_shares / expected_shares))
    )


def psi(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    """Population Stability Index on `bins` quantile bins of the reference."""
    inner_edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))[1:-1]
    slots = len(inner_edges) + 1
    return _psi_of_counts(
        np.bincount(np.searchsorted(inner_edges, reference, "right"), minlength=slots),
        np.bincount(np.searchsorted(inner_edges, current, "right"), minlength=slots),
    )


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, settings: MonitoringParams
) -> dict[str, dict[str, Any]]:
    names = list(settings.features or FEATURE_NAMES)
    rows = {}
    for name in names:
        ref, cur = reference[name].to_numpy(), current[name].to_numpy()
        test = stats.ks_2samp(ref, cur)
        rows[name] = {
            "psi": psi(ref, cur, settings.psi_bins),
            "ks_statistic": float(test.statistic),
            "p_value": float(test.pvalue),
            "reference_mean": float(ref.mean()),
            "current_mean": float(cur.mean()),
        }
    adjusted = stats.false_discovery_control([rows[n]["p_value"] for n in names], method="bh")
    for name, p_adjusted in zip(names, adjusted, strict=True):
        row = rows[name]
        row["p_value_adjusted"] = float(p_adjusted)
        row["drifted"] = bool(
            p_adjusted < settings.fdr_alpha and row["psi"] >= settings.psi_threshold
        )
    return rows


def class_shift(reference: Sample, current: Sample, settings: MonitoringParams) -> dict[str, Any]:
    if current.classes is None:
        return {
            "skipped": "no predicted classes for the current rows: neither logged "
            "predictions, a predicted_class column nor a model at --model"
        }
    if reference.classes is None:
        return {"skipped": "no classes for the reference: no model at --model, no target column"}
    ref_counts = reference.classes.value_counts().reindex(CLASS_NAMES, fill_value=0).to_numpy()
    cur_counts = current.classes.value_counts().reindex(CLASS_NAMES, fill_value=0).to_numpy()
    table = np.array([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]  # a class neither side saw carries no evidence
    if table.shape[1] < 2:
        chi2, p_value = 0.0, 1.0
    else:
        result = stats.chi2_contingency(table)
        chi2, p_value = float(result.statistic), float(result.pvalue)
    value = _psi_of_counts(ref_counts, cur_counts)
    return {
        "reference_basis": reference.classes_basis,
        "current_basis": current.classes_basis,
        "reference": dict(zip(CLASS_NAMES, (ref_counts / ref_counts.sum()).tolist(), strict=True)),
        "current": dict(zip(CLASS_NAMES, (cur_counts / cur_counts.sum()).tolist(), strict=True)),
        "psi": value,
        "chi2": chi2,
        "p_value": p_value,
        "detected": bool(p_value < settings.fdr_alpha and value >= settings.class_psi_threshold),
    }


def detect(reference: Sample, current: Sample, settings: MonitoringParams) -> dict[str, Any]:
    """The drift verdict with the statistics behind it (the content of drift.json)."""
    check_size(current, settings)
    features = feature_drift(reference.features, current.features, settings)
    drifted = [name for name, row in features.items() if row["drifted"]]
    classes = class_shift(reference, current, settings)
    return {
        "drift_detected": bool(drifted) or bool(classes.get("detected")),
        "drifted_features": drifted,
        "class_shift": classes,
        "n_reference": len(reference.features),
        "n_current": len(current.features),
        "reference": _shown(reference.source),
        "current": _shown(current.source),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "thresholds": {
            "psi": settings.psi_threshold,
            "fdr_alpha": settings.fdr_alpha,
            "class_psi": settings.class_psi_threshold,
            "min_rows": settings.min_rows,
            "psi_bins": settings.psi_bins,
        },
        "features": features,
    }


# --- Outputs -------------------------------------------------------------------------------


def write_reports(
    report: dict[str, Any], reference: Sample, current: Sample, out: Path
) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / REPORT_JSON, out / REPORT_HTML
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    samples = {
        name: (reference.features[name].to_numpy(), current.features[name].to_numpy())
        for name in report["features"]
    }
    html_path.write_text(render(report, samples), encoding="utf-8")
    return json_path, html_path


def _remove_stale(out: Path) -> None:
    # A verdict left from an earlier run must not pass for this run's.
    for name in (REPORT_JSON, REPORT_HTML):
        (out / name).unlink(missing_ok=True)


def push_metrics(report: dict[str, Any] | None, gateway: str) -> None:
    """Push the verdict to a Prometheus Pushgateway: a CronJob lives too briefly to be scraped.

    `report=None` pushes only `model_drift_check_success 0` so an alert can fire on a check
    that keeps failing.
    """
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    registry = CollectorRegistry()
    Gauge(
        "model_drift_check_success",
        "1 when the last drift check reached a verdict",
        registry=registry,
    ).set(report is not None)
    if report is not None:
        Gauge("model_drift_detected", "1 when drift was detected", registry=registry).set(
            report["drift_detected"]
        )
        Gauge("model_drift_features", "Number of drifted features", registry=registry).set(
            len(report["drifted_features"])
        )
        Gauge("model_drift_current_rows", "Rows judged", registry=registry).set(report["n_current"])
        feature_psi = Gauge(
            "model_feature_psi",
            "PSI of each feature vs the training data",
            ["feature"],
            registry=registry,
        )
        for name, row in report["features"].items():
            feature_psi.labels(feature=name).set(row["psi"])
        if "psi" in report["class_shift"]:
            Gauge("model_class_psi", "PSI of the predicted-class mix", registry=registry).set(
                report["class_shift"]["psi"]
            )
    push_to_gateway(
        gateway,
        job=PUSH_JOB,
        registry=registry,
        grouping_key={"project": load_identity().project},
        timeout=10,
    )


def summary(report: dict[str, Any]) -> str:
    features = report["drifted_features"]
    classes = report["class_shift"]
    lines = [
        f"drift: {'DETECTED' if report['drift_detected'] else 'none'} "
        f"({report['n_current']} rows vs {report['n_reference']} reference rows)",
        f"  drifted features ({len(features)} of {len(report['features'])}): "
        + (", ".join(features) or "none"),
        "  predicted classes: "
        + (
            classes["skipped"]
            if "skipped" in classes
            else f"{'shifted' if classes['detected'] else 'stable'} (PSI {classes['psi']:.3f})"
        ),
    ]
    return "\n".join(lines)


# --- CLI -----------------------------------------------------------------------------------


def _hours(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of hours, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml.monitoring.drift",
        description="Compare current rows with the training data; write drift.json and .html.",
        epilog="exit codes: 0 verdict written; 1 drift with --fail-on-drift; 2 no verdict "
        "(input can't be judged); 3 pushing metrics or dispatching failed",
    )
    parser.add_argument(
        "--current", required=True, help="prediction logs (folder, .jsonl, s3:// prefix) or a CSV"
    )
    parser.add_argument("--reference", default=str(TRAIN_FILE), help="training rows (CSV)")
    parser.add_argument("--out", type=Path, default=REPORTS_DIR, help="folder for the reports")
    parser.add_argument(
        "--model",
        type=Path,
        default=MODEL_FILE,
        help="model predicting classes for CSV rows and the reference, when present",
    )
    parser.add_argument("--hours", type=_hours, help="only log records of the last N hours")
    parser.add_argument("--fail-on-drift", action="store_true", help="exit 1 on drift (CI gates)")
    parser.add_argument("--pushgateway", help="Prometheus Pushgateway URL to push the verdict to")
    parser.add_argument(
        "--dispatch", action="store_true", help="on drift, trigger the retraining workflow"
    )
    return parser


def _push(report: dict[str, Any] | None, gateway: str) -> bool:
    try:
        push_metrics(report, gateway)
    except (urllib.error.URLError, OSError) as error:
        print(f"drift: pushing metrics to {gateway} failed: {error}", file=sys.stderr)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_params().monitoring
        # The user's input first: a mistake there is reported before any slow work.
        current = load_current(args.current, hours=args.hours)
        check_size(current, settings)
        reference, current = with_model_classes(load_reference(args.reference), current, args.model)
        report = detect(reference, current, settings)
    except (DriftInputError, ParamsError) as error:
        _remove_stale(args.out)
        print(f"drift: no verdict: {error}", file=sys.stderr)
        if args.pushgateway:
            _push(None, args.pushgateway)
        return EXIT_BAD_INPUT
    json_path, html_path = write_reports(report, reference, current, args.out)
    print(summary(report))
    print(f"  report: {html_path} ({json_path.name} beside it)")
    published = _push(report, args.pushgateway) if args.pushgateway else True
    if args.dispatch and report["drift_detected"]:
        from ml.monitoring.dispatch import DispatchError, trigger_retraining

        try:
            print(trigger_retraining(report))
        except DispatchError as error:
            print(f"drift: {error}", file=sys.stderr)
            published = False
    if not published:
        return EXIT_PUBLISH_FAILED
    return EXIT_DRIFT if args.fail_on_drift and report["drift_detected"] else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
