"""The GitHub expression evaluator the workflow tests use (tests/support/github_expressions.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.github_expressions import ExpressionError, evaluate, evaluate_value, truthy

CONTEXTS: dict[str, Any] = {
    "vars": {"RUNNER": "gpu-training", "EMPTY": "", "FLAG": "true"},
    "github": {"repository": "acme/model", "event": {"pull_request": {"number": 7}}},
}


def value(expression: str, **contexts: Any) -> Any:
    return evaluate(expression, {**CONTEXTS, **contexts})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # `||` and `&&` return one of their operands, not a boolean.
        ("vars.RUNNER || 'ubuntu-latest'", "gpu-training"),
        ("vars.EMPTY || 'ubuntu-latest'", "ubuntu-latest"),
        ("vars.MISSING || 'ubuntu-latest'", "ubuntu-latest"),
        ("vars.MISSING || vars.EMPTY", ""),
        ("'a' && 'b'", "b"),
        ("vars.EMPTY && 'b'", ""),
        ("vars.MISSING && 'b'", None),
        # `&&` binds tighter than `||`; parentheses change that.
        ("vars.EMPTY && 'a' || 'b'", "b"),
        ("'x' || 'y' && vars.EMPTY", "x"),
        ("('x' || 'y') && vars.EMPTY", ""),
        ("vars.FLAG == 'true' && vars.RUNNER || 'ubuntu-latest'", "gpu-training"),
        ("vars.MISSING == 'true' && vars.RUNNER || 'ubuntu-latest'", "ubuntu-latest"),
    ],
)
def test_and_or_return_operands_with_githubs_precedence(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("vars.FLAG == 'true'", True),
        ("vars.FLAG == 'TRUE'", True),  # strings compare ignoring case
        ("vars.FLAG != 'true'", False),
        ("vars.RUNNER == 'true'", False),
        ("vars.MISSING == 'true'", False),
        ("vars.MISSING == ''", True),  # null and '' both coerce to 0
        ("vars.MISSING != ''", False),
        ("vars.EMPTY == vars.MISSING", True),
        ("github.repository == 'acme/model'", True),
        ("!vars.EMPTY", True),
        ("!vars.RUNNER", False),
        ("!(vars.FLAG == 'true')", False),
        ("'it''s' == 'IT''S'", True),
    ],
)
def test_comparisons_follow_githubs_coercions(expression: str, expected: bool) -> None:
    assert value(expression) is expected


def test_properties_are_looked_up_ignoring_case_and_missing_ones_are_null() -> None:
    assert value("VARS.runner") == "gpu-training"
    assert value("github.event.pull_request.number") == 7
    assert value("github.event.pull_request.head.repo.full_name") is None
    # A property of a string (or of null) is null, as on GitHub.
    assert value("github.repository.owner") is None
    assert value("my-context.some-key", **{"my-context": {"some-key": "x"}}) == "x"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        *[(None, False), ("", False), (0, False), (False, False), (float("nan"), False)],
        *[("0", True), ("false", True), (1, True), ({}, True)],
    ],
)
def test_truthiness(item: Any, expected: bool) -> None:
    assert truthy(item) is expected


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "1 == 1",
        "true",
        "null",
        "NULL",
        "contains(vars.RUNNER, 'gpu')",
        "vars['RUNNER']",
        "vars.RUNNER < 'z'",
        "vars.*",
        "inputs.stack",  # a context the caller did not give
        "'unterminated",
        "vars.RUNNER ==",
        "(vars.RUNNER",
        "vars.RUNNER)",
        "vars.",
        "vars.RUNNER 'gpu'",
        "vars.RUNNER = 'gpu'",
    ],
)
def test_syntax_it_does_not_know_fails(expression: str) -> None:
    with pytest.raises(ExpressionError):
        value(expression)


def test_a_workflow_value_is_one_whole_expression_or_plain_text() -> None:
    assert evaluate_value("${{ vars.RUNNER || 'ubuntu-latest' }}", CONTEXTS) == "gpu-training"
    assert evaluate_value("  ${{ vars.EMPTY || 'ubuntu-latest' }}\n", CONTEXTS) == "ubuntu-latest"
    assert evaluate_value("ubuntu-latest", CONTEXTS) == "ubuntu-latest"
    for mixed in ("runner-${{ vars.RUNNER }}", "${{ vars.RUNNER }}${{ vars.FLAG }}"):
        with pytest.raises(ExpressionError):
            evaluate_value(mixed, CONTEXTS)
