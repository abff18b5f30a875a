"""The wrk cross-check: its Lua script, its command line, its result line, and a real run."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from aiohttp import web

from ml.bench import wrk
from ml.bench.servers import Endpoint
from ml.bench.wrk import (
    WrkError,
    WrkResult,
    command,
    lua_string,
    measure_wrk,
    merged,
    parse,
    run_wrk,
    script,
)
from tests.support.network import predict_server


@pytest.mark.parametrize(
    ("text", "level"),
    [('{"rows": [{"a": 1.5}]}', 0), ("ends with ]]", 1), ("has ]=] and ]] and ]==]", 3)],
)
def test_lua_strings_survive_any_closing_bracket(text: str, level: int) -> None:
    equals = "=" * level
    # A long bracket drops the newline after its opening: the text starts after it.
    assert lua_string(text) == f"[{equals}[\n{text}]{equals}]"
    assert f"]{equals}]" not in text


def test_the_script_posts_the_body_and_prints_one_result_line() -> None:
    rendered = script(b'{"rows": []}')
    assert 'wrk.method = "POST"' in rendered
    assert 'wrk.body = [[\n{"rows": []}]]' in rendered
    assert 'wrk.headers["Content-Type"] = [[\napplication/json]]' in rendered
    assert "function done(summary, latency, requests)" in rendered
    for value in ("summary.requests", "latency:percentile(99)", "summary.errors.status"):
        assert value in rendered


def test_results_are_parsed_from_the_last_result_line() -> None:
    values = {"requests": 5000, "duration_us": 2_000_000, "p50_us": 900, "p99_us": 4100}
    values |= {"connect": 0, "read": 1, "write": 0, "status": 10, "timeout": 2}
    output = "Running 2s test @ http://127.0.0.1:1/predict\n" + json.dumps(values) + "\n"
    result = parse(output, "bentoml", 16, 1)
    assert (result.ok, result.requests_per_s) == (4990, 2495.0)
    summary = result.summary()
    assert summary["client"] == "wrk" and summary["errors"] == 13
    assert summary["error_kinds"] == {"read": 1, "status": 10, "timeout": 2}
    assert (summary["p50_ms"], summary["p99_ms"]) == (0.9, 4.1)
    assert summary["slice_requests_per_s"] == [2495.0]
    with pytest.raises(WrkError, match="no result line"):
        parse("unable to connect to 127.0.0.1:1 Connection refused\n", "bentoml", 1, 1)


def _slice(
    server: str, requests: int, p50_ms: float, p99_ms: float, status: int, level: int = 1
) -> WrkResult:
    errors = {kind: 0 for kind in wrk.ERROR_KINDS} | {"status": status}
    return WrkResult(
        server, level, 2.0, 1, requests, p50_ms, p99_ms, errors, slice_rates=[requests / 2]
    )


def test_slices_merge_into_one_result_per_server() -> None:
    slices = [_slice("fastapi", 1000, 1.0, 3.0, 0), _slice("fastapi", 1400, 1.4, 2.5, 4)]
    slices.append(_slice("fastapi", 1200, 1.2, 9.0, 0))
    result = merged(slices)
    assert (result.requests, result.ok, result.seconds) == (3600, 3596, 6.0)
    assert result.requests_per_s == pytest.approx(3596 / 6)
    # The median slice's p50; the worst slice's p99 (wrk gives percentiles, not latencies).
    assert (result.p50_ms, result.p99_ms, result.errors["status"]) == (1.2, 9.0, 4)
    # Every slice's rate, in order: the rounds the report pairs with a peer's.
    assert result.slice_rates == [500, 700, 600]


def test_servers_are_measured_in_alternating_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int, float]] = []

    def fake_run(url: str, body: bytes, server: str, level: int, seconds: float) -> WrkResult:
        calls.append((server, level, seconds))
        return _slice(server, 100 * len(calls), 1.0, 2.0, 0, level)

    monkeypatch.setattr(wrk, "run_wrk", fake_run)
    servers = {name: Endpoint(f"http://127.0.0.1:1/{name}", "/predict", b"{}") for name in "ab"}
    results = measure_wrk(servers, [1, 16], warmup=1, seconds=8, slices=4)
    # Per concurrency: a warm-up each, then a, b, b, a, a, b, b, a of 2 s each.
    order = ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert calls[:10] == [("a", 1, 1), ("b", 1, 1)] + [(name, 1, 2.0) for name in order]
    assert [server for server, level, _ in calls[10:]] == ["a", "b", *order]
    assert [(r.server, r.concurrency, r.seconds) for r in results] == [
        ("a", 1, 8.0),
        ("b", 1, 8.0),
        ("a", 16, 8.0),
        ("b", 16, 8.0),
    ]
    # a's four measured slices at concurrency 1 were calls 3, 6, 7 and 10.
    assert results[0].requests == 100 * (3 + 6 + 7 + 10)
    assert results[0].slice_rates == [50 * call for call in (3, 6, 7, 10)]


def test_the_command_uses_one_thread_and_whole_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wrk.shutil, "which", lambda name: f"/usr/bin/{name}")
    argv = command("http://127.0.0.1:1/predict", Path("post.lua"), 64, 8)
    assert argv == [
        "/usr/bin/wrk",
        *("--threads", "1", "--connections", "64", "--duration", "8s"),
        *("--timeout", "30s", "--script", "post.lua", "http://127.0.0.1:1/predict"),
    ]
    with pytest.raises(ValueError, match="concurrency >= 1"):
        command("http://127.0.0.1:1/predict", Path("post.lua"), 0, 8)
    monkeypatch.setattr(wrk.shutil, "which", lambda name: None)
    with pytest.raises(WrkError, match="apt-get install wrk"):
        command("http://127.0.0.1:1/predict", Path("post.lua"), 1, 1)


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_wrk_posts_the_body_and_counts_non_2xx_answers_as_errors() -> None:
    bodies: list[bytes] = []

    async def handler(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        if request.content_type != "application/json":
            return web.Response(status=415)
        return web.Response(status=200 if len(bodies) % 2 else 503, text="[]")

    async def serve_and_run() -> wrk.WrkResult:
        runner, base = await predict_server(handler)
        try:
            url = f"{base}/predict"
            return await asyncio.to_thread(run_wrk, url, b'{"rows": [1]}', "flaky", 2, 1)
        finally:
            await runner.cleanup()

    result = asyncio.run(serve_and_run())
    assert set(bodies) == {b'{"rows": [1]}'}
    # The server may have read a last request or two that wrk stopped waiting for.
    assert len(bodies) - 2 <= result.requests <= len(bodies) and result.requests > 10
    # Every other answer is a 503: wrk's status errors, not served requests. Counted over the
    # answers wrk read, not the requests the server read (up to 2 more, answered after wrk left).
    assert result.errors["status"] == pytest.approx(result.requests / 2, abs=1)
    assert result.ok + result.errors["status"] == result.requests
