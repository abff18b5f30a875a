"""Drift detection on the breast-cancer table: quiet on fresh samples of the training
distribution, loud and specific on shifted features, clear on input it can't judge."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ml.core.features import FEATURE_NAMES
from ml.core.identity import load_identity
from ml.core.params import ParamsError, load_params, parse_params
from ml.core.paths import REPO_ROOT
from ml.monitoring import drift
from tests.ml.monitoring.drift_support import SETTINGS, SHIFTED, Data, run_drift, shifted, write_csv
from tests.support.http_recorder import recording_server
from tests.support.make import run_make


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
