"""Request bodies for the prediction service's tests: the sample, bad bodies, their errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ml.core.features import FEATURE_DOMAIN
from ml.core.params import load_params
from ml.core.paths import SAMPLE_REQUEST

SAMPLE = json.loads(SAMPLE_REQUEST.read_text(encoding="utf-8"))
ROW = SAMPLE["rows"][0]
MAX_ROWS = load_params().serve.max_rows


def body(rows: Any, **extra: Any) -> bytes:
    return json.dumps({"rows": rows, **extra}).encode()


def changed(**values: Any) -> dict[str, Any]:
    return {**ROW, **values}


def without(feature: str) -> dict[str, Any]:
    return {name: value for name, value in ROW.items() if name != feature}


def outside_domain(feature: str) -> str:
    """What the answer says of a value outside the feature's domain: the feature and its range."""
    low, high = FEATURE_DOMAIN[feature]
    return f"'{feature}' must be within its domain [{low:g}, {high:g}]"


# Each bad body, where its problem is (`loc`: row index, feature) and what the message says.
BAD_BODIES = [
    pytest.param(b'{"rows": [', (), "Invalid JSON", id="malformed-json"),
    pytest.param(b"", ("rows",), "Field required", id="empty-body"),
    pytest.param(b"[1, 2]", (), "Input should be an object", id="not-an-object"),
    pytest.param(body({"mean radius": 1}), ("rows",), "valid array", id="rows-not-a-list"),
    pytest.param(body([]), ("rows",), "at least 1 item", id="no-rows"),
    pytest.param(
        body([ROW] * (MAX_ROWS + 1)), ("rows",), f"at most {MAX_ROWS} items", id="too-many-rows"
    ),
    pytest.param(body([ROW, 42]), ("rows", 1), "Input should be an object", id="row-not-object"),
    pytest.param(
        body([ROW, without("worst area")]),
        ("rows", 1, "worst area"),
        "Field required",
        id="missing-feature",
    ),
    pytest.param(
        body([changed(colour=3)]), ("rows", 0, "colour"), "Extra inputs", id="unknown-feature"
    ),
    pytest.param(body([ROW], extra=1), ("extra",), "Extra inputs", id="unknown-key"),
    pytest.param(
        body([ROW, changed(**{"mean radius": float("nan")})]),
        ("rows", 1, "mean radius"),
        "finite number",
        id="nan",
    ),
    pytest.param(
        body([changed(**{"worst area": float("inf")})]),
        ("rows", 0, "worst area"),
        "finite number",
        id="infinity",
    ),
    pytest.param(
        body([changed(**{"mean area": float("-inf")})]),
        ("rows", 0, "mean area"),
        "finite number",
        id="minus-infinity",
    ),
    pytest.param(
        body([ROW, changed(**{"mean area": -1})]),
        ("rows", 1, "mean area"),
        "'mean area' must be within its domain [0, 10000]",
        id="negative-area",
    ),
    pytest.param(
        body([changed(**{"worst area": 1e308})]),
        ("rows", 0, "worst area"),
        "'worst area' must be within its domain [0, 10000]",
        id="huge-area",
    ),
    pytest.param(
        body([changed(**{"mean texture": "10.38"})]),
        ("rows", 0, "mean texture"),
        "valid number",
        id="number-as-text",
    ),
    pytest.param(
        body([changed(**{"mean texture": None})]),
        ("rows", 0, "mean texture"),
        "valid number",
        id="null",
    ),
    pytest.param(
        body([changed(**{"mean texture": True})]),
        ("rows", 0, "mean texture"),
        "valid number",
        id="boolean",
    ),
]


def find(errors: list[dict[str, Any]], loc: tuple[Any, ...]) -> dict[str, Any]:
    matching = [error for error in errors if tuple(error["loc"]) == loc]
    assert matching, f"no error at {loc}: {errors}"
    return matching[0]
