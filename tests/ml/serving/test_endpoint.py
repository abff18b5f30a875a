"""POST /predict as an ASGI middleware: what it answers, what it passes on, where it sits."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from bentoml.exceptions import ServiceUnavailable
from pydantic import BaseModel

from ml.core.paths import REPO_ROOT
from ml.serving.endpoint import INTERNAL_ERROR, PredictEndpoint, Route

LIMIT = 64


class Body(BaseModel):
    n: int


async def doubled(body: bytes) -> bytes:
    return json.dumps({"n": 2 * Body.model_validate_json(body).n}).encode()


class Downstream:
    """The ASGI app behind the middleware (BentoML's router in the service): notes its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.calls.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def call(
    answer: Callable[[bytes], Awaitable[bytes]] | None,
    chunks: list[bytes],
    *,
    path: str = "/predict",
    method: str = "POST",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, dict[bytes, bytes], bytes, int, Downstream]:
    """Status, headers, body, the body messages read, and the app behind, for one request."""
    downstream = Downstream()
    endpoint = PredictEndpoint(downstream, Route("/predict", LIMIT, "test", answer))
    messages = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return messages[read - 1]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers or []}
    asyncio.run(endpoint(scope, receive, send))
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"], read, downstream


def test_answers_a_post_with_the_service_s_json_and_its_length() -> None:
    status, headers, body, _, downstream = call(doubled, [b'{"n": 2', b"1}"])
    assert (status, json.loads(body)) == (200, {"n": 42})
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"content-length"] == str(len(body)).encode()
    assert headers[b"server"] == b"test"
    assert downstream.calls == []


@pytest.mark.parametrize(("method", "path"), [("GET", "/predict"), ("POST", "/other")])
def test_other_methods_and_paths_go_on_to_bentoml(method: str, path: str) -> None:
    status, _, _, read, downstream = call(doubled, [b"{}"], method=method, path=path)
    assert (status, read, downstream.calls) == (204, 0, [(method, path)])


def test_a_bad_body_gets_400_naming_each_field() -> None:
    status, _, body, _, _ = call(doubled, [b'{"n": "x", "m": 1}'])
    payload = json.loads(body)
    assert status == 400
    assert payload["error"] == "1 validation error for Body"
    assert payload["detail"][0]["loc"] == ["n"]
    assert "valid integer" in payload["detail"][0]["msg"]


def test_a_declared_oversized_body_is_refused_unread() -> None:
    headers = [(b"content-length", str(LIMIT + 1).encode())]
    status, _, body, read, _ = call(doubled, [b"x" * (LIMIT + 1)], headers=headers)
    assert (status, read) == (413, 0)
    assert f"exceeds {LIMIT} bytes" in json.loads(body)["error"]


def test_a_streamed_oversized_body_is_refused_at_the_chunk_that_passes_the_limit() -> None:
    status, _, _, read, _ = call(doubled, [b" " * 40, b" " * 40, b" " * 40])
    assert (status, read) == (413, 2)


def test_a_shed_request_gets_503_saying_so() -> None:
    async def shed(body: bytes) -> bytes:
        raise ServiceUnavailable("process is overloaded")

    status, _, body, _, _ = call(shed, [b"{}"])
    assert (status, json.loads(body)) == (503, {"error": "process is overloaded"})


def test_a_model_failure_gets_500_without_its_details_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(body: bytes) -> bytes:
        raise RuntimeError("secret internals")

    status, _, body, _, _ = call(broken, [b"{}"])
    assert (status, json.loads(body)) == (500, {"error": INTERNAL_ERROR})
    assert "secret internals" in caplog.text


def test_before_the_model_is_loaded_the_answer_is_503() -> None:
    status, _, body, _, _ = call(None, [b"{}"])
    assert status == 503
    assert "not loaded" in json.loads(body)["error"]


def test_the_service_puts_it_inside_bentoml_s_metrics_tracing_timeout_and_limit() -> None:
    # In a child: the service's config is loaded into BentoML's process-wide container.
    script = (
        "from ml.serving.service import Classifier\n"
        "from _bentoml_impl.server.app import ServiceAppFactory\n"
        "Classifier.inject_config()\n"
        "print(*(m.cls.__name__ for m in ServiceAppFactory(Classifier).middlewares))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    order = result.stdout.split()
    outer = (
        "RunnerTrafficMetricsMiddleware",  # /metrics: request counts and durations
        "OpenTelemetryMiddleware",
        "TimeoutMiddleware",  # 504
        "MaxConcurrencyMiddleware",  # 429
    )
    assert all(order.index(name) < order.index("PredictEndpoint") for name in outer), order
