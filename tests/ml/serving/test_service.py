"""The prediction service: the packaged bento under `bentoml serve`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import joblib
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ml.core.features import CLASS_NAMES
from ml.core.params import load_params
from ml.core.prediction_log_layout import SAMPLE_RATE_ENV, URL_ENV
from ml.serving.local import running, serve_command
from ml.serving.service import MAX_BODY_BYTES, Row, Scorer
from tests.ml.serving.requests import BAD_BODIES, MAX_ROWS, ROW, SAMPLE, body, changed, find
from tests.support.network import free_port
from tests.support.packaging import Inputs, run_package, write_inputs


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
    # BentoML's request metrics still see /predict, answered by ml/serving/endpoint.py.
    assert predict(served, b"{}").status_code == 400
    text = served.client.get(f"{served.url}/metrics").text
    for code in ("200", "400"):
        assert f'request_total{{endpoint="/predict",http_response_code="{code}"' in text
    assert 'bentoml_service_request_duration_seconds_count{endpoint="/predict"' in text


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
