"""`make bench SOAK=<seconds>`: minutes of load on the bento, to show leaks and slow drift.

    python -m ml.bench.run --soak 300 [--interval 10] [--warmup 2]

Serves the bento the pipeline built on a free 127.0.0.1 port, its predictions logged to a
temporary folder as deployed, and drives it with SOAK_CONCURRENCY closed-loop clients
(ml/bench/load.py) in back-to-back intervals. Per interval: requests/s, p50/p99 and errors, and
the resident memory (VmRSS) of the server's processes. The memory of the server's workers after
the warm-up and at the end is the leak figure. The loop runs a fixed count of intervals, each
ending by its own clock, so it stops by itself. Writes reports/bench-soak.json; the target is no
errors.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ml.bench.load import LoadResult, closed_loop, one_row_body
from ml.bench.servers import SERVICE, serving
from ml.bench.timings import BenchError
from ml.core.paths import REPORTS_DIR
from ml.core.prediction_log_layout import URL_ENV
from ml.serving.local import serve_command

SOAK_FILE = REPORTS_DIR / "bench-soak.json"
SOAK_CONCURRENCY = 64
INTERVAL_S = 10.0
MAX_SOAK_S = 3600.0  # an hour at most: the soak is a bench, not a service
PROC = Path("/proc")


def rss_kib(pid: int) -> int | None:
    """The process's resident memory in KiB (VmRSS), or None once it has gone."""
    try:
        status = (PROC / str(pid) / "status").read_text(encoding="utf-8")
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None  # a zombie has no memory line


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children of each of its threads, recursively)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for children in (PROC / str(parent) / "task").glob("*/children"):
            try:
                kids = [int(child) for child in children.read_text(encoding="utf-8").split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
            found += kids
            pending += kids
    return sorted(set(found))


def process_of(command: list[str]) -> int:
    """The pid of the process running exactly `command`."""
    wanted = "\0".join(command) + "\0"
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_text(encoding="utf-8") == wanted:
                return int(entry.name)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    raise BenchError(f"no process runs {' '.join(command)}")


def memory(server: int) -> dict[str, Any]:
    """VmRSS in KiB of the server process and of each of its workers, and the workers' total."""
    workers = {pid: kib for pid in descendants(server) if (kib := rss_kib(pid)) is not None}
    return {
        "server_kib": rss_kib(server),
        "workers_kib": {str(pid): kib for pid, kib in workers.items()},
        "workers_total_kib": sum(workers.values()),
    }


def interval_row(index: int, load: LoadResult, workers_total_kib: int) -> dict[str, Any]:
    """One interval's line of the report: its rate, latencies and errors, and the memory at its
    end. Each interval has its own LoadResult, so its p99 is of its own answers only."""
    summary = load.summary()
    return {
        "interval": index + 1,
        "seconds": round(load.seconds, 2),
        "requests": summary["requests"],
        "requests_per_s": summary["requests_per_s"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "errors": summary["errors"],
        "error_kinds": summary["error_kinds"],
        "workers_rss_kib": workers_total_kib,
    }


async def soak_load(
    url: str, server: int, seconds: float, interval: float, warmup: float
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Memory after the warm-up, one row per interval, memory at the end."""
    body, rows = one_row_body()
    await closed_loop(url, body, rows, SERVICE, SOAK_CONCURRENCY, warmup, 0.0)
    start = memory(server)
    intervals = []
    for index in range(max(1, math.ceil(seconds / interval))):
        length = min(interval, seconds - index * interval)
        load = await closed_loop(url, body, rows, SERVICE, SOAK_CONCURRENCY, 0.0, length)
        row = interval_row(index, load, memory(server)["workers_total_kib"])
        intervals.append(row)
        print(
            f"  {row['interval']:>3}: {row['requests_per_s']:>8,.0f} req/s  "
            f"p99 {row['p99_ms']:>7.2f} ms  {row['errors']} errors  "
            f"workers {row['workers_rss_kib'] / 1024:,.1f} MiB",
            flush=True,
        )
    return start, intervals, memory(server)


def soak_report(
    bento: str,
    interval: float,
    start: dict[str, Any],
    intervals: list[dict[str, Any]],
    end: dict[str, Any],
) -> dict[str, Any]:
    """The content of reports/bench-soak.json."""
    errors = sum(row["errors"] for row in intervals)
    kinds: dict[str, int] = {}
    for row in intervals:
        for kind, count in row["error_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    growth = end["workers_total_kib"] - start["workers_total_kib"]
    return {
        "bento": bento,
        "cpus": os.cpu_count(),
        "concurrency": SOAK_CONCURRENCY,
        "interval_s": interval,
        "seconds": round(sum(row["seconds"] for row in intervals), 2),
        "requests": sum(row["requests"] for row in intervals),
        "errors": errors,
        "error_kinds": kinds,
        "intervals": intervals,
        "rss": {
            "start": start,
            "end": end,
            "workers_growth_kib": growth,
            "workers_growth_percent": round(100 * growth / max(1, start["workers_total_kib"]), 1),
        },
        "problems": [f"{errors} requests failed: {kinds}"] if errors else [],
    }


def soak_table(report: dict[str, Any]) -> str:
    """The intervals as a Markdown table, and the workers' memory at the start and the end."""
    lines = ["| interval | req/s | p50 ms | p99 ms | errors | workers RSS MiB |", "|---" * 6 + "|"]
    for row in report["intervals"]:
        cells = (row["interval"], f"{row['requests_per_s']:,.0f}", row["p50_ms"], row["p99_ms"])
        cells += (row["errors"], f"{row['workers_rss_kib'] / 1024:,.1f}")
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    rss = report["rss"]
    lines.append("")
    lines.append(
        f"workers RSS: {rss['start']['workers_total_kib'] / 1024:,.1f} MiB after the warm-up, "
        f"{rss['end']['workers_total_kib'] / 1024:,.1f} MiB at the end "
        f"({rss['workers_growth_kib'] / 1024:+,.1f} MiB, {rss['workers_growth_percent']:+}%)"
    )
    return "\n".join(lines)


def run_soak(bento: str, seconds: float, interval: float, warmup: float) -> dict[str, Any]:
    """Serve `bento`, soak it, and return the report (the server stopped)."""
    print(f"soak: {bento} for {seconds:g} s at concurrency {SOAK_CONCURRENCY}, 1-row bodies")
    with (
        tempfile.TemporaryDirectory(prefix="soak-predictions-") as log_dir,
        serving(bento, {URL_ENV: f"file://{log_dir}"}) as url,
    ):
        server = process_of(serve_command(bento, urlsplit(url).port or 0))
        start, intervals, end = asyncio.run(soak_load(url, server, seconds, interval, warmup))
    return soak_report(bento, interval, start, intervals, end)
