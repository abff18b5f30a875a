"""The budget gate against moto's AWS Budgets: over, under, overridden and missing budgets."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from ml.core.identity import load_identity
from ml.release import budget_gate as rollout_check


def _create_budget(name: str, limit: str, actual: str | None) -> None:
    account = boto3.client("sts").get_caller_identity()["Account"]
    budget = {
        "BudgetName": name,
        "BudgetLimit": {"Amount": limit, "Unit": "USD"},
        "BudgetType": "COST",
        "TimeUnit": "MONTHLY",
    }
    if actual is not None:
        budget["CalculatedSpend"] = {
            "ActualSpend": {"Amount": actual, "Unit": "USD"},
            "ForecastedSpend": {"Amount": "480", "Unit": "USD"},
        }
    boto3.client("budgets", region_name="us-east-1").create_budget(AccountId=account, Budget=budget)


@pytest.fixture
def stack(aws_env: str) -> str:
    """A stack name no other test has a budget for (moto's server lives for the session)."""
    return f"s{uuid.uuid4().hex[:8]}"


@pytest.fixture
def summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    return path


def _name(stack: str) -> str:
    return rollout_check.budget_name(load_identity().project, stack)


def test_budget_name_is_project_and_stack() -> None:
    project = load_identity().project
    assert rollout_check.budget_name(project, "prod") == f"{project}-prod"


def test_under_budget_passes_with_the_figures(
    stack: str, summary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_budget(_name(stack), "500", "123.45")
    assert rollout_check.main(["--stack", stack]) == 0
    out = capsys.readouterr().out
    assert "actual 123.45 USD of 500.00 USD (24.7%)" in out
    assert "forecast 480.00 USD" in out
    assert "Rollout allowed." in out
    assert "Budget gate: passed" in summary.read_text(encoding="utf-8")


def test_spent_budget_refuses_the_rollout(
    stack: str, summary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_budget(_name(stack), "500", "500.00")
    assert rollout_check.main(["--stack", stack]) == 1
    err = capsys.readouterr().err
    assert "is exhausted: actual 500.00 USD of 500.00 USD (100.0%)" in err
    assert "Rollout refused" in err
    assert "Budget gate: refused" in summary.read_text(encoding="utf-8")


def test_override_lets_it_through_and_records_the_reason(
    stack: str, summary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_budget(_name(stack), "500", "612.10")
    reason = "hotfix for a wrong prediction, approved by the on-call engineer"
    assert rollout_check.main(["--stack", stack, "--override", reason]) == 0
    out = capsys.readouterr().out
    assert "(122.4%)" in out
    assert f"Rollout allowed by override: {reason}" in out
    assert reason in summary.read_text(encoding="utf-8")


def test_override_without_a_reason_is_refused(stack: str) -> None:
    _create_budget(_name(stack), "500", "612.10")
    assert rollout_check.main(["--stack", stack, "--override", " "]) == 2


def test_a_new_budget_without_spend_yet_passes(stack: str) -> None:
    _create_budget(_name(stack), "500", None)
    status = rollout_check.read_budget(_name(stack))
    assert (status.actual, status.exhausted) == (0, False)


def test_missing_budget_is_an_error_that_names_it(
    stack: str, summary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rollout_check.main(["--stack", stack]) == 2
    err = capsys.readouterr().err
    assert f"budget '{_name(stack)}' not found in account" in err
    assert "Budget gate: error" in summary.read_text(encoding="utf-8")
