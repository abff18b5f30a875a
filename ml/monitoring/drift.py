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
1 drift detected and --fail-on-drift given (a gate: `make drift FAIL_ON_DRIFT=1`); 2 the input
can't be judged (missing, empty, too few rows, unknown or missing columns: no verdict is
written); 3 the verdict was written but pushing metrics or dispatching retraining failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml.core.cli import emit
from ml.core.identity import load_identity
from ml.core.params import MonitoringParams, ParamsError, load_params
from ml.core.paths import MODEL_FILE, REPORTS_DIR, TRAIN_FILE
from ml.monitoring.inputs import (
    DriftInputError,
    Sample,
    check_size,
    load_current,
    load_reference,
    shown_location,
    with_model_classes,
)
from ml.monitoring.report import render
from ml.monitoring.statistics import class_shift, feature_drift

EXIT_OK, EXIT_DRIFT, EXIT_BAD_INPUT, EXIT_PUBLISH_FAILED = 0, 1, 2, 3
REPORT_JSON = "drift.json"
REPORT_HTML = "drift.html"
PUSH_JOB = "model-drift"


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
        "reference": shown_location(reference.source),
        "current": shown_location(current.source),
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
    parser.add_argument(
        "--fail-on-drift",
        action="store_true",
        help="exit 1 when drift is found (a gate: `make drift FAIL_ON_DRIFT=1`); without it a "
        "verdict exits 0 either way, as the in-cluster CronJob needs",
    )
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
    emit(summary(report))
    emit(f"  report: {html_path} ({json_path.name} beside it)")
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
