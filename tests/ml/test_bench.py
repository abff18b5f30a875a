"""The benchmark's parts: the closed-loop load generator, the verdict, the FastAPI peer."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections import Counter
from pathlib import Path

import httpx
import joblib
import pytest
from aiohttp import web

from ml.bench import LoadResult, closed_loop, one_row_body, table, verdict
from ml.serve import running
from ml.service import Row, Scorer
from tests.conftest import free_port
from tests.ml.packaging import write_inputs


async def load_against_flaky_server(concurrency: int) -> LoadResult:
    """Every third request answered 503, the others 200, by a server on a free port."""
    counter = itertools.count()

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=503 if next(counter) % 3 == 0 else 200, text="[]")

    app = web.Application()
    app.router.add_post("/predict", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        raw, rows = one_row_body()
        return await closed_loop(
            f"http://127.0.0.1:{port}", raw, rows, "flaky", concurrency, 0.2, 0.6
        )
    finally:
        await runner.cleanup()


def test_closed_loop_counts_answers_and_errors_in_the_window_only() -> None:
    result = asyncio.run(load_against_flaky_server(concurrency=4))
    assert result.ok > 10
    assert set(result.errors) == {"http 503"}
    # About one in three, once the warm-up's requests are left out.
    assert 0.2 < result.errors["http 503"] / (result.ok + result.errors["http 503"]) < 0.45
    summary = result.summary()
    assert summary["rows_per_s"] == summary["requests_per_s"] == round(result.ok / 0.6, 1)
    assert 0 < summary["p50_ms"] <= summary["p99_ms"]


def result(server: str, concurrency: int, ok: int, errors: int = 0) -> LoadResult:
    load = LoadResult(server, concurrency, 1.0, 1, ok=ok, latencies_ms=[1.0, 2.0])
    load.errors = Counter({"http 503": errors} if errors else {})
    return load


def test_verdict_wants_no_errors_and_at_least_the_peer_at_the_top_concurrency() -> None:
    good = [result("bentoml", 1, 500), result("fastapi", 1, 900)]
    good += [result("bentoml", 64, 2000), result("fastapi", 64, 1900)]
    assert verdict(good) == []

    slower = [*good[:2], result("bentoml", 64, 1500), result("fastapi", 64, 1900)]
    assert verdict(slower) == [
        "bentoml serves 1500 rows/s at concurrency 64, below the FastAPI peer's 1900"
    ]
    failing = [result("bentoml", 16, 800, errors=3), *good]
    assert verdict(failing) == ["bentoml at concurrency 16: 3 errors"]


def test_table_is_markdown_with_a_row_per_run() -> None:
    lines = table([result("bentoml", 64, 2000), result("fastapi", 64, 1900)]).splitlines()
    assert lines[0] == "| server | concurrency | req/s | rows/s | p50 ms | p99 ms | errors |"
    assert lines[2].startswith("| bentoml | 64 | 2,000 | 2,000 |")
    assert len(lines) == 4


@pytest.mark.slow
def test_the_peer_answers_like_the_service(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path, max_iter=3)
    port = free_port()
    peer = [sys.executable, "-m", "ml.bench_peer", "--port", str(port), "--workers", "1"]
    raw, _ = one_row_body()
    headers = {"Content-Type": "application/json"}
    with running([*peer, "--model", str(inputs.model)], port) as url:
        answer = httpx.post(f"{url}/predict", content=raw, headers=headers)
        empty = httpx.post(f"{url}/predict", content=b'{"rows": []}', headers=headers)
    assert empty.status_code == 422
    assert answer.status_code == 200
    row = Row.model_validate(json.loads(raw)["rows"][0])
    expected = Scorer(joblib.load(inputs.model))([row])[0]
    assert answer.json() == [pytest.approx(expected.model_dump())]
