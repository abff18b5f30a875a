"""The cost tool's command line (`python -m infra.tools.cost`) and its JSON and Markdown output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.tools import cost
from tests.infra.tools.cost_data import (
    DATA,
    PRICES,
    TYPICAL,
)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cost.main(["--stack", "dev", "--plan", str(DATA / "small.json"), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--prices", str(PRICES), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["typical_monthly_usd"] == pytest.approx(TYPICAL)
    assert data["stack"] == "dev"
    assert {"idle_monthly_usd", "max_monthly_usd", "by_resource", "by_tag"} <= data.keys()


def test_cli_takes_the_price_table_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRICES", str(PRICES))
    code, out, _ = run_cli(capsys, "--format", "json")
    assert code == 0
    assert json.loads(out)["prices_as_of"] == "2026-01-01"


def test_cli_markdown_diff_for_pull_requests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "--prices", str(PRICES), "--base", str(DATA / "small-base.json"), "--format",
        "markdown",
    )  # fmt: skip
    assert code == 0
    assert "| difference | -$3.15 | -$3.15 | +$736.85 |" in out
    assert "| `NodeGroup` gpu | changed | +$0.00 | +$0.00 | +$740.00 |" in out


def test_cli_reports_errors_without_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "--prices", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert err.startswith("error: ") and "missing.yaml" in err
