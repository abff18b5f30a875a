"""The benchmark's parts: the closed-loop load generator, the verdict, the FastAPI peer."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import joblib
import pytest
from aiohttp import web

from ml.bench import run, soak
from ml.bench.load import LoadResult, closed_loop, measure, one_row_body
from ml.bench.noop_repro import Run, summary
from ml.bench.report import logging_ratios, peer_ratios, peer_table, ratio_table, table, verdict
from ml.bench.servers import LOGGING, MLSERVER, PEER, SERVICE, Endpoint
from ml.bench.wrk import WrkResult
from ml.serving.local import running
from ml.serving.service import Row, Scorer
from tests.support.network import free_port, predict_server
from tests.support.packaging import write_inputs


async def load_against_flaky_server(concurrency: int) -> LoadResult:
    """Every third request answered 503, the others 200, by a server on a free port."""
    counter = itertools.count()

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=503 if next(counter) % 3 == 0 else 200, text="[]")

    runner, url = await predict_server(handler)
    try:
        raw, rows = one_row_body()
        return await closed_loop(url, raw, rows, "flaky", concurrency, 0.2, 0.6)
    finally:
        await runner.cleanup()


def noop_summary(walls: list[float]) -> dict[str, Any]:
    """The no-op report of `dvc repro`s that took these wall seconds."""
    runs = [Run(returncode=0, output="", wall_s=wall, cpu_s=wall) for wall in walls]
    return summary(runs, {"dvc": "3.67.1"})


def test_closed_loop_counts_answers_and_errors_in_the_window_only() -> None:
    result = asyncio.run(load_against_flaky_server(concurrency=4))
    assert result.ok > 10
    assert set(result.errors) == {"http 503"}
    # About one in three, once the warm-up's requests are left out.
    assert 0.2 < result.errors["http 503"] / (result.ok + result.errors["http 503"]) < 0.45
    summary = result.summary()
    assert summary["rows_per_s"] == summary["requests_per_s"] == round(result.ok / 0.6, 1)
    assert 0 < summary["p50_ms"] <= summary["p99_ms"]
    # One window, one round's rate.
    assert summary["slice_requests_per_s"] == [summary["requests_per_s"]]


def result(server: str, concurrency: int, ok: int, errors: int = 0) -> LoadResult:
    load = LoadResult(server, concurrency, 1.0, 1, ok=ok, latencies_ms=[1.0, 2.0])
    load.errors = Counter({"http 503": errors} if errors else {})
    return load


def wrk_result(server: str, concurrency: int, ok: int, status_errors: int = 0) -> WrkResult:
    return WrkResult(
        server, concurrency, 1.0, 1, ok + status_errors, 1.0, 2.0, {"status": status_errors}
    )


GOOD = [result(SERVICE, 1, 1000), result(LOGGING, 1, 960), result(MLSERVER, 1, 700)]
GOOD += [result(PEER, 1, 900), result(SERVICE, 64, 2000), result(LOGGING, 64, 1800)]
GOOD += [result(MLSERVER, 64, 1950), result(PEER, 64, 1900)]
WRK = [wrk_result(SERVICE, 1, 1100), wrk_result(MLSERVER, 1, 800), wrk_result(PEER, 1, 1000)]


def test_verdict_wants_no_errors_and_at_least_the_best_peer_everywhere() -> None:
    assert verdict([*GOOD, *WRK], logged_rows=2760) == []

    slower = [*GOOD[:4], result(SERVICE, 64, 1920), *GOOD[5:]]
    assert verdict(slower) == [
        "bentoml serves 1920 req/s at concurrency 64 (aiohttp), 0.98x mlserver's 1950 "
        "(target: at least 1.0x the best peer)"
    ]
    by_wrk = [*GOOD, wrk_result(SERVICE, 1, 900), *WRK[1:]]
    assert verdict(by_wrk) == [
        "bentoml serves 900 req/s at concurrency 1 (wrk), 0.90x fastapi's 1000 "
        "(target: at least 1.0x the best peer)"
    ]
    failing = [result(LOGGING, 16, 800, errors=3), result(PEER, 16, 700, errors=1), *GOOD]
    failing += [wrk_result(MLSERVER, 1, 10, status_errors=5), *WRK[::2]]
    assert verdict(failing) == [
        "bentoml+log at concurrency 16 (aiohttp): 3 errors",
        "fastapi at concurrency 16 (aiohttp): 1 errors",
        "mlserver at concurrency 1 (wrk): 5 errors",
    ]


def test_verdict_wants_a_noop_repro_under_its_target_when_timed() -> None:
    assert verdict(GOOD, noop=noop_summary([0.9, 0.95, 1.3])) == []
    assert verdict(GOOD, noop=noop_summary([1.0, 0.9, 1.1])) == [
        "a no-op `dvc repro` takes a median 1.00 s of 3 runs (target: under 1.0 s)"
    ]


def test_peer_ratios_take_the_best_peer_per_client_and_concurrency() -> None:
    ratios = peer_ratios([*GOOD, *WRK])
    assert [(r["client"], r["concurrency"], r["best_peer"], r["ratio"]) for r in ratios] == [
        ("aiohttp", 1, PEER, 1.111),
        ("aiohttp", 64, MLSERVER, 1.026),
        ("wrk", 1, PEER, 1.1),
    ]
    assert (
        peer_table(ratios).splitlines()[2]
        == "| aiohttp | 1 | 1,000 | fastapi | 900 | 1.11x | n/a | 2.0 / 2.0 |"
    )
    # Without a peer (or without the bento) at a concurrency there is nothing to compare.
    assert peer_ratios([result(SERVICE, 16, 10), result(PEER, 64, 10)]) == []


def in_rounds(server: str, concurrency: int, rates: list[float]) -> LoadResult:
    """A result measured in 1-s rounds at these requests/s."""
    load = result(server, concurrency, round(sum(rates)))
    load.seconds, load.slice_rates = float(len(rates)), rates
    return load


def test_a_cell_measured_in_rounds_is_judged_by_the_median_of_its_rounds() -> None:
    # One round spoiled for the bento drags its total under the peer's; the other rounds lead.
    spoiled = [in_rounds(SERVICE, 1, [1100, 300, 1080]), in_rounds(PEER, 1, [1000, 950, 1000])]
    (row,) = peer_ratios(spoiled)
    assert row["ratio"] == 0.841 and row["round_ratios"] == [1.1, 0.316, 1.08]
    assert row["paired_ratio"] == 1.08
    assert verdict(spoiled) == []
    assert peer_table([row]).splitlines()[2] == (
        "| aiohttp | 1 | 827 | fastapi | 983 | 0.84x | 1.08x (0.32-1.10, 3) | 2.0 / 2.0 |"
    )
    # Ahead in total thanks to one round, behind in most: not met.
    lucky = [in_rounds(SERVICE, 1, [990, 2000, 980]), in_rounds(PEER, 1, [1000, 1000, 1000])]
    assert verdict(lucky) == [
        "bentoml serves 1323 req/s at concurrency 1 (aiohttp), 1.32x fastapi's 1000, "
        "0.99x round by round (target: at least 1.0x the best peer)"
    ]
    # Rounds that don't pair up (a different count) leave the totals to judge.
    assert (
        peer_ratios([in_rounds(SERVICE, 1, [900]), in_rounds(PEER, 1, [950, 950])])[0][
            "paired_ratio"
        ]
        is None
    )


def test_logging_is_judged_round_by_round_when_measured_in_rounds() -> None:
    off, on = in_rounds(SERVICE, 64, [2000, 2000, 2000]), in_rounds(LOGGING, 64, [1900, 900, 1850])
    assert logging_ratios([off, on]) == {64: 0.925}
    assert ratio_table([off, on]).splitlines()[2] == "| 64 | 2,000 | 1,550 | 77.5% | 92.5% |"
    assert verdict([off, on], logged_rows=4650) == []


def test_verdict_wants_logging_to_keep_ninety_percent_and_every_row() -> None:
    assert logging_ratios(GOOD) == {1: 0.96, 64: 0.9}
    costly = [*GOOD[:5], result(LOGGING, 64, 1780), *GOOD[6:]]
    assert verdict(costly) == [
        "with prediction logging on, bentoml serves 89.0% of its rows/s at concurrency 64 "
        "(round by round where measured in rounds; target: at least 90%)"
    ]
    assert verdict(GOOD, logged_rows=2759) == [
        "bentoml+log logged 2759 rows, fewer than the 2760 it served"
    ]


def test_tables_are_markdown_with_a_row_per_run() -> None:
    lines = table([result(SERVICE, 64, 2000), wrk_result(PEER, 64, 1900)]).splitlines()
    assert lines[0] == (
        "| server | client | concurrency | req/s | rows/s | p50 ms | p99 ms | errors |"
    )
    assert lines[2].startswith("| bentoml | aiohttp | 64 | 2,000 | 2,000 |")
    assert lines[3] == "| fastapi | wrk | 64 | 1,900 | 1,900 | 1.0 | 2.0 | 0 |"
    assert len(lines) == 4
    assert ratio_table(GOOD).splitlines() == [
        "| concurrency | log off req/s | log on req/s | on/off | round by round |",
        "|---|---|---|---|---|",
        "| 1 | 1,000 | 960 | 96.0% | 96.0% |",
        "| 64 | 2,000 | 1,800 | 90.0% | 90.0% |",
    ]


def test_main_writes_the_report_and_prints_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make bench` end to end, its servers and measurements replaced by fixed results."""

    @contextmanager
    def servers(
        bento: str, log_dir: Path, peer_workers: int, venv: Path
    ) -> Iterator[dict[str, Endpoint]]:
        names = (SERVICE, LOGGING, MLSERVER, PEER)
        yield {name: Endpoint(f"http://{name}", "/predict", b"{}") for name in names}

    async def loads(*_: object) -> list[LoadResult]:
        return GOOD

    def wrk_loads(servers: dict[str, Endpoint], *_: object) -> list[WrkResult]:
        assert list(servers) == [SERVICE, MLSERVER, PEER]  # the logging bento is ours only
        return WRK

    versions = {
        SERVICE: {"bentoml": "1.4.0", "uvloop": "0.21.0", "httptools": "0.6.4"},
        MLSERVER: {"mlserver": "1.7.1", "uvloop": "0.21.0", "httptools": ""},
        PEER: {"fastapi": "0.115.0", "uvloop": "", "httptools": ""},
    }

    overhead = dict.fromkeys(
        ("rows_per_s_predict", "rows_per_s_predict_and_log", "overhead_percent", "log_call_us"), 1.0
    )
    monkeypatch.setattr(run, "noop_report", lambda: noop_summary([0.9, 0.8, 1.2]))
    monkeypatch.setattr(run, "predict_rows_per_s", lambda model, batch: 1000.0 * batch)
    monkeypatch.setattr(run, "measure_overhead", lambda: overhead)
    monkeypatch.setattr(run, "bench_servers", servers)
    monkeypatch.setattr(run, "measure", loads)
    monkeypatch.setattr(run, "measure_wrk", wrk_loads)
    monkeypatch.setattr(run, "bench_versions", lambda venv: versions)
    monkeypatch.setattr(run, "logged_rows", lambda folder: 2760)
    output = tmp_path / "bench.json"
    run.main(["--bento", "clf:abc", "--output", str(output)])

    report = json.loads(output.read_text())
    assert list(report) == [
        "bento",
        "cpus",
        "versions",
        "rows_per_request",
        "warmup_s",
        "load",
        "peer_ratios",
        "prediction_log",
        "predict_rows_per_s",
        "noop_repro",
        "problems",
    ]
    assert report["bento"] == "clf:abc" and report["problems"] == []
    assert report["prediction_log"]["on_off_ratio"] == {"1": 0.96, "64": 0.9}
    assert report["prediction_log"]["rows_logged"] == 2760
    assert report["predict_rows_per_s"] == {"1": 1000, "64": 64000}
    assert report["noop_repro"]["median_s"] == 0.9
    assert report["noop_repro"]["wall_s"] == [0.9, 0.8, 1.2]
    assert report["cpus"] == os.cpu_count() and report["versions"] == versions
    assert len(report["load"]) == len(GOOD) + len(WRK)
    assert [row["client"] for row in report["peer_ratios"]] == ["aiohttp", "aiohttp", "wrk"]
    printed = capsys.readouterr().out
    assert "| server | client | concurrency |" in printed
    assert "no-op `dvc repro`: median 0.90 s of 3 runs (0.90, 0.80, 1.20)" in printed
    assert "| client | concurrency | bentoml req/s | best peer |" in printed
    assert "mlserver uvloop 0.21.0 / h11, fastapi asyncio / h11" in printed
    assert printed.rstrip().endswith(f"targets met\nwrote {output}")


async def interleaved_windows() -> tuple[list[LoadResult], dict[str, list[float]]]:
    """`measure` against three local servers that note when each request arrives."""
    arrivals: dict[str, list[float]] = {SERVICE: [], LOGGING: [], PEER: []}
    runners, urls = [], {}
    for name in arrivals:

        async def handler(request: web.Request, name: str = name) -> web.Response:
            await request.read()
            arrivals[name].append(asyncio.get_running_loop().time())
            return web.Response(text="[]")

        runner, url = await predict_server(handler)
        urls[name] = Endpoint(url, "/predict", b"{}")
        runners.append(runner)
    try:
        return await measure(urls, [2], warmup=0.1, seconds=0.4, slices=4, lead_in=0.05), arrivals
    finally:
        for runner in runners:
            await runner.cleanup()


def test_the_servers_are_measured_in_alternating_slices() -> None:
    loads, arrivals = asyncio.run(interleaved_windows())
    assert [load.server for load in loads] == [SERVICE, LOGGING, PEER]
    assert all(load.seconds == pytest.approx(0.4) and load.ok > 0 for load in loads)
    # Each server's four windows, one rate each, in the order they ran.
    assert all(len(load.slice_rates) == 4 and min(load.slice_rates) > 0 for load in loads)
    # a, b, c, c, b, a, ...: each server is served both before and after every other.
    off, on, peer = arrivals[SERVICE], arrivals[LOGGING], arrivals[PEER]
    assert min(off) < min(on) < min(peer) < max(peer) < max(on) < max(off)


@pytest.mark.slow
def test_the_peer_answers_like_the_service(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path, max_iter=3)
    port = free_port()
    peer = [sys.executable, "-m", "ml.bench.peer", "--port", str(port), "--workers", "1"]
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


def test_interval_rows_hold_each_intervals_own_p99() -> None:
    fast = LoadResult(SERVICE, 64, 10.0, 1, ok=100, latencies_ms=[float(ms) for ms in range(100)])
    slow = LoadResult(SERVICE, 64, 10.0, 1, ok=100, latencies_ms=[100.0 + ms for ms in range(100)])
    slow.errors = Counter({"ServerDisconnectedError": 2})

    rows = [soak.interval_row(index, load, 1024) for index, load in enumerate((fast, slow))]

    assert [row["p99_ms"] for row in rows] == [99.0, 199.0]
    assert [row["interval"] for row in rows] == [1, 2]
    assert rows[1]["errors"] == 2 and rows[1]["requests_per_s"] == 10.0


def test_rss_reader_reads_this_process_and_its_children() -> None:
    own = soak.rss_kib(os.getpid())
    assert own is not None and own > 1024  # a Python process holds more than 1 MiB
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in soak.descendants(os.getpid())
        # Until the child has exec'd, /proc shows the parent's command line: wait for it.
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/cmdline").read_bytes().split(b"\0")[1:2] != [b"-c"]:
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.01)
        assert soak.process_of(child.args) == child.pid  # type: ignore[arg-type]
    finally:
        child.kill()
        child.wait()
    assert soak.rss_kib(child.pid) is None


def test_soak_writes_its_report_and_prints_the_intervals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make bench SOAK=...` end to end, its server and load replaced by a short fixed run."""
    memories = iter(
        [{"workers_total_kib": kib, "server_kib": 1} for kib in (1000, 1100, 1200, 1300)]
    )
    loads = iter([result(SERVICE, 64, 100), result(SERVICE, 64, 90, errors=3)])

    @contextmanager
    def server(bento: str, env: dict[str, str]) -> Iterator[str]:
        yield "http://127.0.0.1:1"

    async def load(*args: object) -> LoadResult:
        return next(loads) if args[-1] else result(SERVICE, 64, 0)  # the warm-up has no window

    monkeypatch.setattr(soak, "serving", server)
    monkeypatch.setattr(soak, "process_of", lambda command: 1)
    monkeypatch.setattr(soak, "memory", lambda pid: next(memories))
    monkeypatch.setattr(soak, "closed_loop", load)
    output = tmp_path / "soak.json"
    run.main(["--bento", "clf:abc", "--soak", "2", "--interval", "1", "--output", str(output)])

    report = json.loads(output.read_text())
    assert list(report) == [
        "bento",
        "cpus",
        "concurrency",
        "interval_s",
        "seconds",
        "requests",
        "errors",
        "error_kinds",
        "intervals",
        "rss",
        "problems",
    ]
    assert report["concurrency"] == 64 and report["requests"] == 190
    assert [row["workers_rss_kib"] for row in report["intervals"]] == [1100, 1200]
    assert (
        report["rss"]["workers_growth_kib"] == 300 and report["rss"]["workers_growth_percent"] == 30
    )
    assert report["errors"] == 3 and report["problems"] == ["3 requests failed: {'http 503': 3}"]
    printed = capsys.readouterr().out
    assert "| interval | req/s |" in printed and "+0.3 MiB, +30.0%" in printed
    assert printed.rstrip().endswith(f"wrote {output}")


@pytest.mark.parametrize(
    "argv", [["--soak", "0"], ["--soak", "99999"], ["--soak", "5", "--interval", "9"]]
)
def test_soak_refuses_an_unbounded_or_empty_run(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run.main(argv)
    assert exit_info.value.code == 2
