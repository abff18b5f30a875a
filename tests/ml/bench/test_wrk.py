"""The wrk cross-check: its Lua script, its command line, its result line, and a real run."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from aiohttp import web

from ml.bench import wrk
from ml.bench.wrk import WrkError, command, lua_string, parse, run_wrk, script
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
    with pytest.raises(WrkError, match="no result line"):
        parse("unable to connect to 127.0.0.1:1 Connection refused\n", "bentoml", 1, 1)


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
    # Every other answer is a 503: wrk's status errors, not served requests.
    assert result.errors["status"] == pytest.approx(len(bodies) / 2, abs=1)
    assert result.ok + result.errors["status"] == result.requests
