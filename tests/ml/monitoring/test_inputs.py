"""Input the drift check can't judge: exit 2, a clear message, no verdict left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ml.core.paths import REPO_ROOT
from ml.monitoring import drift
from tests.ml.monitoring.drift_support import SETTINGS, Data, run_drift, write_csv


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
