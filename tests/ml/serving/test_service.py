"""The prediction service: its request schema, then the packaged bento under `bentoml serve`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier

from ml.core.features import CLASS_NAMES, FEATURE_DOMAIN, FEATURE_NAMES
from ml.core.params import Params, load_params
from ml.core.paths import SAMPLE_REQUEST
from ml.core.prediction_log_layout import DEFAULT_LOG_DIR, SAMPLE_RATE_ENV, URL_ENV
from ml.pipeline.schema import build_schema
from ml.serving.demo import malformed_body
from ml.serving.local import (
    NoBentoError,
    latest_bento,
    prediction_log_env,
    recorded_bento,
    running,
    serve_command,
)
from ml.serving.service import MAX_BODY_BYTES, Row, Scorer, validation_errors
from tests.support.network import free_port
from tests.support.packaging import Inputs, run_package, write_inputs

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


# --- schema, no server ----------------------------------------------------------------------


def test_the_sample_request_is_valid() -> None:
    assert validation_errors(json.dumps(SAMPLE).encode()) == []
    assert len(SAMPLE["rows"]) > 1
    assert all(set(row) == set(FEATURE_NAMES) for row in SAMPLE["rows"])


@pytest.mark.parametrize(("raw", "loc", "message"), BAD_BODIES)
def test_bad_bodies_name_the_problem(raw: bytes, loc: tuple[Any, ...], message: str) -> None:
    assert message in find(validation_errors(raw), loc)["msg"]


def test_integers_are_numbers() -> None:
    assert validation_errors(body([changed(**{"mean area": 1001})])) == []


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_each_feature_is_refused_just_outside_its_domain_and_taken_at_its_bounds(
    feature: str,
) -> None:
    low, high = FEATURE_DOMAIN[feature]
    assert validation_errors(body([changed(**{feature: low}), changed(**{feature: high})])) == []
    beyond = [float(np.nextafter(low, -np.inf)), float(np.nextafter(high, np.inf))]
    errors = validation_errors(body([changed(**{feature: value}) for value in beyond]))
    assert [(tuple(error["loc"]), error["msg"]) for error in errors] == [
        (("rows", row, feature), outside_domain(feature)) for row in range(len(beyond))
    ]


def test_the_service_and_the_validate_stage_refuse_by_the_same_domain(params: Params) -> None:
    # One declaration, ml/core/features.py: the service's fields and the schema's range checks.
    declared = {
        feature: (field["minimum"], field["maximum"])
        for feature, field in Row.model_json_schema(by_alias=True)["properties"].items()
    }
    checked = {
        name: (check.statistics["min_value"], check.statistics["max_value"])
        for name, column in build_schema(params.validate_).columns.items()
        for check in column.checks
        if check.name == "in_range"
    }
    assert declared == checked == dict(FEATURE_DOMAIN)


@pytest.fixture(scope="module")
def shuffled_model() -> Any:
    """A model fitted on the features in reverse order."""
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    features = features[list(reversed(features.columns))]
    return HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(features, target)


def test_scorer_feeds_columns_in_the_model_s_order(shuffled_model: Any) -> None:
    import pandas as pd

    rows = [Row.model_validate(row) for row in SAMPLE["rows"]]
    answers = Scorer(shuffled_model)(rows)
    expected = shuffled_model.predict_proba(
        pd.DataFrame(SAMPLE["rows"])[list(shuffled_model.feature_names_in_)]
    )
    for answer, probabilities in zip(answers, expected, strict=True):
        assert answer.label == CLASS_NAMES[int(probabilities.argmax())]
        assert answer.probability == pytest.approx(probabilities.max())


def test_scorer_refuses_a_model_with_other_features() -> None:
    data = load_breast_cancer(as_frame=True)
    model = HistGradientBoostingClassifier(max_iter=2).fit(data.data.iloc[:, :5], data.target)
    with pytest.raises(ValueError, match="features differ"):
        Scorer(model)


def test_the_demo_s_malformed_body_is_refused_for_both_of_its_problems() -> None:
    _, raw = malformed_body(SAMPLE)
    errors = validation_errors(raw)
    assert "valid number" in find(errors, ("rows", 0, "mean radius"))["msg"]
    assert "Field required" in find(errors, ("rows", 0, "worst symmetry"))["msg"]


def test_serving_without_a_bento_says_how_to_build_one(tmp_path: Path) -> None:
    info = tmp_path / "bento.json"
    with pytest.raises(NoBentoError, match=r"no bento built yet .*run `make repro`"):
        recorded_bento(info)
    info.write_text(json.dumps({"bento": f"{load_params().package.model_name}:0000000000000000"}))
    with pytest.raises(NoBentoError, match=r"not in this machine's BentoML store .*make repro"):
        latest_bento(info)


def test_a_bento_served_from_the_checkout_logs_to_its_data_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    assert prediction_log_env() == {URL_ENV: str(DEFAULT_LOG_DIR)}
    monkeypatch.setenv(URL_ENV, "s3://prediction-logs/predictions")
    assert prediction_log_env() == {URL_ENV: "s3://prediction-logs/predictions"}


# --- the bento, served ----------------------------------------------------------------------


@dataclass
class Served:
    url: str
    client: httpx.Client
    inputs: Inputs
    newer_model: Any


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The package stage's bento under `bentoml serve` on a free port, once for the module.

    A newer model is packaged into the same store afterwards: the bento must keep its own.
    Its prediction log goes to an S3 endpoint nobody listens on: every test here also shows
    that a failing sink never reaches a request.
    """
    inputs = write_inputs(tmp_path_factory.mktemp("service"))
    bento = run_package(inputs, inputs.root / "reports")["bento"]
    newer = write_inputs(inputs.root / "newer", max_iter=3)
    run_package(inputs, inputs.root / "reports-newer", model=newer.model)

    port = free_port()
    env = {
        "BENTOML_HOME": str(inputs.bentoml_home),
        "BENTOML_DO_NOT_TRACK": "1",
        URL_ENV: "s3://prediction-logs/predictions",
        SAMPLE_RATE_ENV: "1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with running(serve_command(bento, port), port, env) as url, httpx.Client(timeout=30) as client:
        yield Served(url, client, inputs, joblib.load(newer.model))


def predict(served: Served, raw: bytes, content_type: str = "application/json") -> httpx.Response:
    return served.client.post(
        f"{served.url}/predict", content=raw, headers={"Content-Type": content_type}
    )


@pytest.mark.slow
def test_answers_class_and_probability_per_row_from_the_bento_s_own_model(served: Served) -> None:
    answer = predict(served, json.dumps(SAMPLE).encode())
    assert answer.status_code == 200, answer.text
    rows = [Row.model_validate(row) for row in SAMPLE["rows"]]
    expected = Scorer(joblib.load(served.inputs.model))(rows)
    newer = Scorer(served.newer_model)(rows)
    got = answer.json()
    assert [item["label"] for item in got] == [item.label for item in expected]
    assert [item["probability"] for item in got] == pytest.approx(
        [item.probability for item in expected]
    )
    assert [item["probability"] for item in got] != pytest.approx(
        [item.probability for item in newer]
    )


@pytest.mark.slow
def test_any_content_type_is_read_as_json(served: Served) -> None:
    # What `curl -d @ml/serving/sample_request.json` sends without a Content-Type header.
    answer = predict(served, json.dumps(SAMPLE).encode(), "application/x-www-form-urlencoded")
    assert answer.status_code == 200, answer.text
    assert len(answer.json()) == len(SAMPLE["rows"])


@pytest.mark.slow
@pytest.mark.parametrize(("raw", "loc", "message"), BAD_BODIES)
def test_bad_bodies_get_400_naming_the_problem(
    served: Served, raw: bytes, loc: tuple[Any, ...], message: str
) -> None:
    answer = predict(served, raw)
    assert answer.status_code == 400, answer.text
    payload = answer.json()
    assert "validation error" in payload["error"]
    assert message in find(payload["detail"], loc)["msg"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"--xx\r\nContent-Disposition: form-data; name=rows\r\n\r\n[", "multipart/form-data"),
        (b"rows=1&rows=2", "application/x-www-form-urlencoded"),
    ],
)
def test_form_bodies_get_400(served: Served, raw: bytes, content_type: str) -> None:
    answer = predict(served, raw, f"{content_type}; boundary=xx")
    assert answer.status_code == 400, answer.text
    assert "Invalid JSON" in answer.json()["detail"][0]["msg"]


@pytest.mark.slow
def test_an_oversized_body_is_refused_unread(served: Served) -> None:
    answer = predict(served, b" " * (MAX_BODY_BYTES + 1))
    assert answer.status_code == 413, answer.text
    assert f"exceeds {MAX_BODY_BYTES} bytes" in answer.text


def metric(served: Served, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Each sample of a counter on /metrics, by its labels."""
    text = served.client.get(f"{served.url}/metrics").text
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def predictions_by_class(served: Served) -> dict[str, float]:
    counts = {name: 0.0 for name in CLASS_NAMES}
    for labels, value in metric(served, "predictions_total").items():
        counts[dict(labels)["class"]] = value
    return counts


@pytest.mark.slow
def test_metrics_count_predictions_by_class_across_workers(served: Served) -> None:
    before = predictions_by_class(served)
    labels: list[str] = []
    for _ in range(10):  # one connection each, so the workers share them
        answer = httpx.post(f"{served.url}/predict", content=json.dumps(SAMPLE).encode())
        labels += [item["label"] for item in answer.json()]
    after = predictions_by_class(served)
    assert {name: after[name] - before[name] for name in CLASS_NAMES} == {
        name: labels.count(name) for name in CLASS_NAMES
    }
    text = served.client.get(f"{served.url}/metrics").text
    assert 'bentoml_service_request_total{endpoint="/predict",http_response_code="200"' in text


@pytest.mark.slow
def test_rows_outside_the_domain_reach_neither_the_model_nor_the_prediction_log(
    served: Served,
) -> None:
    # predict() counts its answers, then logs them: an unchanged count means it never ran.
    before = predictions_by_class(served)
    for raw in (
        body([ROW, changed(**{"mean area": -1})]),
        body([changed(**{"worst area": 1e308})] * 3),
    ):
        answer = predict(served, raw)
        assert answer.status_code == 400, answer.text
        assert "must be within its domain" in answer.text
    assert predictions_by_class(served) == before
    assert predict(served, json.dumps(SAMPLE).encode()).status_code == 200
    assert sum(predictions_by_class(served).values()) == sum(before.values()) + len(SAMPLE["rows"])


@pytest.mark.slow
def test_still_up_after_the_bad_bodies(served: Served) -> None:
    for raw in (b'{"rows": [', body([]), body([changed(**{"mean radius": float("nan")})])):
        assert predict(served, raw).status_code == 400
    assert served.client.get(f"{served.url}/readyz").status_code == 200
    assert served.client.get(f"{served.url}/livez").status_code == 200
    assert predict(served, json.dumps(SAMPLE).encode()).status_code == 200


@pytest.mark.slow
def test_a_failing_log_sink_is_counted_and_never_fails_a_request(served: Served) -> None:
    def failures() -> float:
        return sum(metric(served, "prediction_log_failures_total").values())

    before = failures()
    # A full batch of the writer's: it is sent at once, not after monitoring.log_flush_seconds.
    batch_rows = load_params().monitoring.log_batch_rows
    assert batch_rows <= MAX_ROWS
    rows = [SAMPLE["rows"][index % len(SAMPLE["rows"])] for index in range(batch_rows)]
    answer = predict(served, body(rows))
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 20
    while failures() == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert failures() > before
    lost = metric(served, "prediction_log_dropped_total")
    assert lost[(("reason", "sink_error"),)] >= len(rows)
    assert predict(served, json.dumps(SAMPLE).encode()).status_code == 200
