"""Drift detection on the breast-cancer table: quiet on fresh samples of the training
distribution, loud and specific on shifted features, clear on input it can't judge."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import boto3
import joblib
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ml.core.features import FEATURE_NAMES, TARGET
from ml.core.identity import load_identity
from ml.core.params import ParamsError, load_params, parse_params
from ml.core.paths import REPO_ROOT
from ml.monitoring import drift
from ml.monitoring.report import FEATURE_COLUMNS
from ml.monitoring.statistics import psi
from ml.serving.log_sinks import FolderSink, S3Sink
from ml.serving.prediction_log import PredictionLogger
from tests.support.http_recorder import recording_server
from tests.support.make import run_make

SETTINGS = load_params().monitoring
SHIFTED = ["mean radius", "worst area"]


@dataclass(frozen=True)
class Data:
    reference: Path  # train.csv as the pipeline writes it: the features and the target
    held_out: pd.DataFrame
    train: pd.DataFrame
    model: Path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    table = load_breast_cancer(as_frame=True).frame
    assert list(table.columns[:-1]) == list(FEATURE_NAMES)
    train, held_out = train_test_split(
        table, test_size=0.25, random_state=0, stratify=table[TARGET]
    )
    folder = tmp_path_factory.mktemp("drift-data")
    train.to_csv(folder / "train.csv", index=False)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[list(FEATURE_NAMES)], train[TARGET])
    joblib.dump(model, folder / "model.joblib")
    return Data(folder / "train.csv", held_out, train, folder / "model.joblib")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    report: dict[str, Any] | None


def run_drift(
    capsys: pytest.CaptureFixture[str], data: Data, out: Path, current: str | Path, *args: str
) -> Run:
    code = drift.main(
        [
            "--current", str(current), "--reference", str(data.reference),
            "--model", str(data.model), "--out", str(out), *args,
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    report_file = out / drift.REPORT_JSON
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    return Run(code, captured.out, captured.err, report)


def write_csv(table: pd.DataFrame, path: Path) -> Path:
    table.to_csv(path, index=False)
    return path


def shifted(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table[SHIFTED] *= 1.5
    return table


def test_psi_is_zero_for_the_same_sample_and_large_for_a_shift() -> None:
    values = np.random.default_rng(0).normal(size=2000)
    assert psi(values, values, 10) == pytest.approx(0.0, abs=1e-12)
    assert psi(values, values + 1.0, 10) > 0.5
    assert psi(np.ones(50), np.ones(80), 10) == 0.0  # one bin only


@pytest.mark.parametrize("sample", ["bootstrap of the reference", "held-out rows"])
def test_no_drift_on_fresh_samples(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Data, sample: str
) -> None:
    if sample == "held-out rows":
        rows = data.held_out
    else:
        rows = data.train.sample(200, replace=True, random_state=1)
    result = run_drift(capsys, data, tmp_path, write_csv(rows, tmp_path / "rows.csv"))
    assert result.code == drift.EXIT_OK, result.err
    assert result.report is not None
    assert result.report["drift_detected"] is False
    assert result.report["drifted_features"] == []
    assert result.report["n_current"] == len(rows)
    assert result.report["class_shift"]["detected"] is False
    assert "drift: none" in result.out


def test_drift_is_found_and_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Data
) -> None:
    current = write_csv(shifted(data.held_out), tmp_path / "rows.csv")
    result = run_drift(capsys, data, tmp_path, current, "--fail-on-drift")
    assert result.code == drift.EXIT_DRIFT
    report = result.report
    assert report is not None and report["drift_detected"] is True
    assert report["drifted_features"] == SHIFTED
    assert set(report["features"]) == set(FEATURE_NAMES)
    for name in SHIFTED:
        stats = report["features"][name]
        assert stats["psi"] >= SETTINGS.psi_threshold
        assert stats["p_value_adjusted"] < SETTINGS.fdr_alpha
        assert stats["p_value_adjusted"] >= stats["p_value"]
        assert stats["current_mean"] == pytest.approx(1.5 * data.held_out[name].mean())
    assert report["thresholds"] == {
        "psi": SETTINGS.psi_threshold,
        "fdr_alpha": SETTINGS.fdr_alpha,
        "class_psi": SETTINGS.class_psi_threshold,
        "min_rows": SETTINGS.min_rows,
        "psi_bins": SETTINGS.psi_bins,
    }
    assert report["n_reference"] == len(data.train)
    assert "mean radius, worst area" in result.out


def log_rows(folder: Path, rows: pd.DataFrame, label: str) -> None:
    stamp = datetime(2025, 6, 1, 12, tzinfo=UTC).timestamp()
    with PredictionLogger(FolderSink(folder), bento_tag="clf:test") as logger:
        for start in range(0, len(rows), 10):
            chunk = rows.iloc[start : start + 10][list(FEATURE_NAMES)]
            logger.log(chunk.to_dict("records"), [(label, 0.9)] * len(chunk), timestamp=stamp)


def test_prediction_logs_are_judged_with_their_predictions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Data
) -> None:
    logs = tmp_path / "predictions"
    log_rows(logs, shifted(data.held_out), "malignant")
    result = run_drift(capsys, data, tmp_path / "out", logs)
    assert result.code == drift.EXIT_OK, result.err
    report = result.report
    assert report is not None and report["drift_detected"] is True
    assert report["drifted_features"] == SHIFTED
    classes = report["class_shift"]
    assert classes["detected"] is True and classes["current"] == {"malignant": 1.0, "benign": 0.0}
    assert classes["current_basis"] == "served model"

    (log_file,) = logs.rglob("*.jsonl")  # one flush, one hour: one file
    single = run_drift(capsys, data, tmp_path / "one", log_file)
    assert single.report is not None and single.report["n_current"] == len(data.held_out)


def test_logs_and_reference_in_s3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Data, aws_env: str
) -> None:
    """The in-cluster CronJob's way: the last hours of logs under an s3:// prefix."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="drift-logs")
    s3.upload_file(str(data.reference), "drift-logs", "reference/train.csv")
    rows = shifted(data.held_out)[list(FEATURE_NAMES)]
    with PredictionLogger(S3Sink("drift-logs", "predictions")) as logger:
        logger.log(rows.to_numpy(), [("benign", 0.9)] * len(rows), columns=list(FEATURE_NAMES))
        old = datetime(2020, 1, 1, tzinfo=UTC).timestamp()  # outside the window: left out
        logger.log(rows.head(5).to_dict("records"), [("malignant", 0.9)] * 5, timestamp=old)
    code = drift.main(
        ["--current", "s3://drift-logs/predictions", "--hours", "24",
         "--reference", "s3://drift-logs/reference/train.csv", "--out", str(tmp_path),
         "--model", str(data.model)]
    )  # fmt: skip
    assert code == drift.EXIT_OK, capsys.readouterr().err
    report = json.loads((tmp_path / drift.REPORT_JSON).read_text())
    assert report["n_current"] == len(rows) and report["drifted_features"] == SHIFTED
    assert report["current"] == "s3://drift-logs/predictions"


def test_class_shift_is_skipped_without_predictions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Data
) -> None:
    current = write_csv(data.held_out, tmp_path / "rows.csv")
    code = drift.main(
        ["--current", str(current), "--reference", str(data.reference),
         "--model", str(tmp_path / "absent.joblib"), "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == drift.EXIT_OK
    report = json.loads((tmp_path / drift.REPORT_JSON).read_text())
    assert "no predicted classes" in report["class_shift"]["skipped"]
    assert "no predicted classes" in capsys.readouterr().out


class ReportPage(HTMLParser):
    """The parts of drift.html a reader relies on: verdict, table cells, figures."""

    def __init__(self) -> None:
        super().__init__()
        self.verdict = ""
        self.tables: dict[str, list[list[str]]] = {}
        self.svgs = 0
        self.captions: list[str] = []
        self._in: list[str] = []
        self._table = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self._table = attributes.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr":
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self.tables[self._table][-1].append("")
        elif tag == "svg":
            self.svgs += 1
        self._in.append(attributes.get("id") or tag)

    def handle_endtag(self, tag: str) -> None:
        self._in.pop()

    def handle_data(self, text: str) -> None:
        if "verdict" in self._in:
            self.verdict += text
        elif self._in and self._in[-1] in ("td", "th"):
            self.tables[self._table][-1][-1] += text
        elif self._in and self._in[-1] == "figcaption":
            self.captions.append(text)


def test_html_report_shows_the_verdict_numbers_and_histograms(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Data
) -> None:
    result = run_drift(
        capsys, data, tmp_path, write_csv(shifted(data.held_out), tmp_path / "c.csv")
    )
    report = result.report
    assert report is not None
    page = ReportPage()
    page.feed((tmp_path / drift.REPORT_HTML).read_text())

    assert page.verdict.startswith("Drift detected")
    assert all(name in page.verdict for name in SHIFTED)
    header, *rows = page.tables["features"]
    assert header[:2] == ["Feature", "PSI"]
    cells = {row[0]: row for row in rows}
    assert set(cells) == set(FEATURE_NAMES)
    assert [row[0] for row in rows[:2]] == SHIFTED  # drifted features lead the table
    for name, stats in report["features"].items():
        shown = [float(cell) for cell in cells[name][1:7]]
        assert shown == pytest.approx([stats[c] for c in FEATURE_COLUMNS], rel=1e-3)
        assert cells[name][7] == ("yes" if stats["drifted"] else "no")
    classes = {row[0]: float(row[2]) for row in page.tables["classes"][1:]}
    assert classes == pytest.approx(report["class_shift"]["current"], rel=1e-3)
    assert page.svgs == len(FEATURE_NAMES)
    assert page.captions == list(report["features"])


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("too few rows", f"need at least {SETTINGS.min_rows}"),
        ("unknown column", "unknown columns ['colour']"),
        ("missing column", "missing columns ['worst area']"),
        ("non-numeric value", "'mean radius': 1"),
        ("empty file", "empty file"),
        ("empty folder", "no prediction-log records"),
        ("no such path", "no such file"),
        ("no such bucket", "can't read from S3"),
    ],
)
def test_input_without_a_verdict_exits_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    data: Data,
    aws_env: str,
    case: str,
    message: str,
) -> None:
    rows = data.held_out.copy()
    current: str | Path = tmp_path / "rows.csv"
    if case == "too few rows":
        write_csv(rows.head(SETTINGS.min_rows - 1), current)
    elif case == "unknown column":
        write_csv(rows.assign(colour="red"), current)
    elif case == "missing column":
        write_csv(rows.drop(columns="worst area"), current)
    elif case == "non-numeric value":
        rows["mean radius"] = rows["mean radius"].astype(object)
        rows.iloc[3, 0] = "large"
        write_csv(rows, current)
    elif case == "empty file":
        current.write_text("")
    elif case == "empty folder":
        current = tmp_path / "logs"
        current.mkdir()
    elif case == "no such bucket":
        current = "s3://no-such-bucket/predictions"
    out = tmp_path / "out"
    out.mkdir()
    (out / drift.REPORT_JSON).write_text('{"drift_detected": false}')  # an earlier run's
    result = run_drift(capsys, data, out, current)
    assert result.code == drift.EXIT_BAD_INPUT
    assert message in result.err and "no verdict" in result.err
    assert result.report is None and not (out / drift.REPORT_HTML).exists()


def test_cli_reports_bad_input_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ml.monitoring.drift", "--current", str(tmp_path / "absent.csv"),
         "--out", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == drift.EXIT_BAD_INPUT
    assert "absent.csv" in result.stderr and "Traceback" not in result.stderr


def test_verdict_is_pushed_to_the_pushgateway(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Data
) -> None:
    current = write_csv(shifted(data.held_out), tmp_path / "rows.csv")
    with recording_server(status=200) as gateway:
        result = run_drift(capsys, data, tmp_path, current, "--pushgateway", gateway.url)
    assert result.code == drift.EXIT_OK, result.err
    (push,) = gateway.requests
    assert push.method == "PUT"
    assert push.path == f"/metrics/job/{drift.PUSH_JOB}/project/{load_identity().project}"
    samples = {
        (s.name, s.labels.get("feature")): s.value
        for family in text_string_to_metric_families(push.body.decode())
        for s in family.samples
    }
    assert samples[("model_drift_detected", None)] == 1
    assert samples[("model_drift_features", None)] == 2
    assert samples[("model_drift_check_success", None)] == 1
    assert result.report is not None
    for name in FEATURE_NAMES:
        assert math.isclose(
            samples[("model_feature_psi", name)], result.report["features"][name]["psi"]
        )


def test_failed_check_and_unreachable_gateway(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Data
) -> None:
    with recording_server(status=200) as gateway:
        run = run_drift(
            capsys, data, tmp_path, tmp_path / "absent.csv", "--pushgateway", gateway.url
        )
    assert run.code == drift.EXIT_BAD_INPUT
    (push,) = gateway.requests
    assert (
        b"model_drift_check_success 0.0" in push.body and b"model_drift_detected" not in push.body
    )

    current = write_csv(data.held_out, tmp_path / "rows.csv")
    with recording_server() as gone:
        url = gone.url  # closed once the block ends
    run = run_drift(capsys, data, tmp_path, current, "--pushgateway", url)
    assert run.code == drift.EXIT_PUBLISH_FAILED
    assert "pushing metrics" in run.err and run.report is not None


@pytest.mark.parametrize("shift", [True, False])
def test_dispatch_flag_triggers_retraining_only_on_drift(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    data: Data,
    monkeypatch: pytest.MonkeyPatch,
    shift: bool,
) -> None:
    rows = shifted(data.held_out) if shift else data.held_out
    current = write_csv(rows, tmp_path / "rows.csv")
    with recording_server() as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        monkeypatch.setenv("DISPATCH_TOKEN", "test-token")
        result = run_drift(capsys, data, tmp_path, current, "--dispatch")
    assert result.code == drift.EXIT_OK, result.err
    if not shift:
        assert github.requests == []
        return
    (request,) = github.requests
    body = json.loads(request.body)
    assert body["event_type"] == "drift-detected"
    assert body["client_payload"]["drifted_features"] == SHIFTED
    assert "retraining requested" in result.out


def test_unknown_feature_in_params_is_named() -> None:
    raw = load_params().model_dump(by_alias=True)
    raw["monitoring"]["features"] = ["mean radius", "mean colour"]
    with pytest.raises(ParamsError, match=r"monitoring\.features.*mean colour"):
        parse_params(raw)


@pytest.mark.parametrize(
    ("rows", "args", "code"),
    [
        # Without the flag a verdict exits 0 even on drift: the CronJob must not retry.
        ("shifted", (), drift.EXIT_OK),
        ("shifted", ("--fail-on-drift",), drift.EXIT_DRIFT),
        ("held out", ("--fail-on-drift",), drift.EXIT_OK),
    ],
)
def test_only_fail_on_drift_makes_drift_an_error(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    data: Data,
    rows: str,
    args: tuple[str, ...],
    code: int,
) -> None:
    table = shifted(data.held_out) if rows == "shifted" else data.held_out
    result = run_drift(capsys, data, tmp_path, write_csv(table, tmp_path / "rows.csv"), *args)
    assert result.code == code, result.err
    assert result.report is not None
    assert result.report["drift_detected"] is (rows == "shifted")


@pytest.mark.parametrize(
    ("setting", "flagged"), [("FAIL_ON_DRIFT=1", True), ("FAIL_ON_DRIFT=", False)]
)
def test_make_drift_fails_on_drift_only_when_asked(setting: str, flagged: bool) -> None:
    # A dry run (-n) shows the command `make drift` runs without running it.
    result = run_make("-n", "drift", "CURRENT=data/predictions", setting)
    assert result.returncode == 0, result.stderr
    (command,) = [line for line in result.stdout.splitlines() if "-m ml.monitoring.drift" in line]
    assert ("--fail-on-drift" in command.split()) is flagged


def test_the_flag_is_documented_where_users_look() -> None:
    assert "--fail-on-drift" in drift.__doc__
    assert "--fail-on-drift" in drift._parser().format_help()
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("- `make drift CURRENT=") :].split("\n- ", 1)[0]
    assert "FAIL_ON_DRIFT=1" in section and "--fail-on-drift" in section
