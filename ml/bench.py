"""`make bench`: the service's throughput and latency next to a plain FastAPI peer (a report).

    python -m ml.bench [--warmup 2] [--seconds 8] [--concurrency 1 16 64]

Starts the bento the pipeline built (`bentoml serve`) and, in the same run, ml/bench_peer.py on
the same model file, each on a free 127.0.0.1 port. An aiohttp closed loop (each of N clients
sends its next request when the last one is answered) drives each server in turn at every
concurrency: a warm-up, then a measured window. Bodies hold one row, so requests/s and rows/s
(predictions/s) are equal; both are reported. Only 200 answers count as served; anything else
(a status, a timeout, a reset connection) is an error.

Also measured: the model's own `predict_proba` rows/s in this process at batch 1 and at batch 64
(what adaptive batching can reach at most), and the time of a `dvc repro` with nothing to do.
Writes reports/bench.json and prints a table. Numbers depend on the machine and on whatever else
runs on it: compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ml.identity import REPO_ROOT
from ml.paths import MODEL_FILE, REPORTS_DIR
from ml.serve import (
    NoBentoError,
    ServerStartError,
    free_port,
    latest_bento,
    running,
    running_bento,
    venv_env,
)

BENCH_FILE = REPORTS_DIR / "bench.json"
SAMPLE_REQUEST = Path(__file__).with_name("sample_request.json")
CONCURRENCY = (1, 16, 64)
REQUEST_TIMEOUT_S = 30.0
# The peer's OpenMP/BLAS pools are also capped in-process; the env covers numpy's BLAS at import.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


class BenchError(RuntimeError):
    """The benchmark cannot run; the message says why."""


@dataclass
class LoadResult:
    server: str
    concurrency: int
    seconds: float
    rows_per_request: int
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def requests_per_s(self) -> float:
        return self.ok / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "concurrency": self.concurrency,
            "seconds": self.seconds,
            "requests": self.ok,
            "requests_per_s": round(self.requests_per_s, 1),
            "rows_per_s": round(self.requests_per_s * self.rows_per_request, 1),
            "p50_ms": round(self.percentile(0.50), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
        }


async def closed_loop(
    url: str, body: bytes, rows: int, server: str, concurrency: int, warmup: float, seconds: float
) -> LoadResult:
    """`concurrency` clients, each sending its next request when the previous one is answered."""
    result = LoadResult(server, concurrency, seconds, rows)
    headers = {"Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=concurrency)
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup
    end = start + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while (sent := loop.time()) < end:
            outcome = None
            try:
                async with session.post(f"{url}/predict", data=body, headers=headers) as answer:
                    await answer.read()
                    if answer.status != 200:
                        outcome = f"http {answer.status}"
            except (aiohttp.ClientError, TimeoutError) as error:
                outcome = type(error).__name__
            done = loop.time()
            if sent < start or done > end:
                continue  # warm-up, or past the window
            if outcome is None:
                result.ok += 1
                result.latencies_ms.append((done - sent) * 1000)
            else:
                result.errors[outcome] += 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return result


def one_row_body() -> tuple[bytes, int]:
    rows = json.loads(SAMPLE_REQUEST.read_text(encoding="utf-8"))["rows"]
    return json.dumps({"rows": rows[:1]}).encode("utf-8"), 1


def predict_rows_per_s(model_file: Path, batch: int, seconds: float = 1.5) -> float:
    """The model's own predict_proba rows/s in this process, one OpenMP thread, fixed batch."""
    import joblib
    import pandas as pd
    from threadpoolctl import threadpool_limits

    model = joblib.load(model_file)
    rows = json.loads(SAMPLE_REQUEST.read_text(encoding="utf-8"))["rows"]
    table = pd.DataFrame([rows[i % len(rows)] for i in range(batch)])
    features = table[list(model.feature_names_in_)].to_numpy()
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an array for a model fitted on named columns
        model.predict_proba(features)
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            model.predict_proba(features)
            calls += 1
    return calls * batch / elapsed


def noop_repro_seconds() -> float:
    """`dvc repro` run twice; the second has nothing to do: that is the time reported."""
    started = 0.0
    for _ in range(2):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "dvc", "repro"],
            cwd=REPO_ROOT,
            env=venv_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(f"`dvc repro` failed:\n{result.stdout}{result.stderr}")
    return time.perf_counter() - started


COLUMNS = (
    ("server", "server"),
    ("concurrency", "concurrency"),
    ("req/s", "requests_per_s"),
    ("rows/s", "rows_per_s"),
    ("p50 ms", "p50_ms"),
    ("p99 ms", "p99_ms"),
    ("errors", "errors"),
)


def table(loads: list[LoadResult]) -> str:
    """The load results as a Markdown table."""
    lines = [
        "| " + " | ".join(title for title, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for load in loads:
        row = load.summary()
        cells = [
            f"{row[key]:,.0f}" if key.endswith("per_s") else str(row[key]) for _, key in COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_report(loads: list[LoadResult], predict: dict[int, float], repro_s: float | None) -> None:
    print()
    print(table(loads))
    print()
    for batch, rate in predict.items():
        print(f"in-process predict_proba, batch {batch:>3}: {rate:>10,.0f} rows/s")
    if repro_s is not None:
        print(f"no-op `dvc repro`: {repro_s:.2f} s")


def verdict(loads: list[LoadResult]) -> list[str]:
    """What the service must meet: no errors, and at the top concurrency at least the peer."""
    problems = [
        f"{load.server} at concurrency {load.concurrency}: {sum(load.errors.values())} errors"
        for load in loads
        if load.server == "bentoml" and load.errors
    ]
    top = max(load.concurrency for load in loads)
    rates = {load.server: load.requests_per_s for load in loads if load.concurrency == top}
    if rates.get("bentoml", 0.0) < rates.get("fastapi", 0.0):
        problems.append(
            f"bentoml serves {rates['bentoml']:.0f} rows/s at concurrency {top}, "
            f"below the FastAPI peer's {rates['fastapi']:.0f}"
        )
    return problems


async def measure(
    servers: dict[str, str], concurrency: list[int], warmup: float, seconds: float
) -> list[LoadResult]:
    body, rows = one_row_body()
    loads = []
    for level in concurrency:
        for name, url in servers.items():
            print(f"  {name:<8} concurrency {level:>3} ...", end="", flush=True)
            load = await closed_loop(url, body, rows, name, level, warmup, seconds)
            print(f" {load.requests_per_s:,.0f} req/s, {sum(load.errors.values())} errors")
            loads.append(load)
    return loads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY))
    parser.add_argument("--bento", help="NAME:VERSION (default: the one reports/bento.json names)")
    parser.add_argument("--peer-workers", type=int, default=2)
    parser.add_argument("--skip-repro", action="store_true", help="do not time `dvc repro`")
    parser.add_argument("--output", type=Path, default=BENCH_FILE)
    options = parser.parse_args(argv)

    try:
        # Timed first: a pipeline that is not up to date builds the model and bento to measure.
        repro_s = None if options.skip_repro else noop_repro_seconds()
        bento = options.bento or latest_bento()
        predict = {batch: predict_rows_per_s(MODEL_FILE, batch) for batch in (1, 64)}
        peer_port = free_port()
        peer = [sys.executable, "-m", "ml.bench_peer", "--port", str(peer_port)]
        peer += ["--workers", str(options.peer_workers), "--model", str(MODEL_FILE)]
        print(f"bench: {bento} against a FastAPI peer, 1-row bodies")
        with running_bento(bento) as bento_url, running(peer, peer_port, ONE_THREAD) as peer_url:
            servers = {"bentoml": bento_url, "fastapi": peer_url}
            loads = asyncio.run(
                measure(servers, options.concurrency, options.warmup, options.seconds)
            )
    except (NoBentoError, BenchError, ServerStartError) as error:
        raise SystemExit(f"bench: {error}") from None

    print_report(loads, predict, repro_s)
    problems = verdict(loads)
    report = {
        "bento": bento,
        "cpus": os.cpu_count(),
        "rows_per_request": 1,
        "warmup_s": options.warmup,
        "load": [load.summary() for load in loads],
        "predict_rows_per_s": {str(batch): round(rate) for batch, rate in predict.items()},
        "noop_repro_s": None if repro_s is None else round(repro_s, 2),
        "problems": problems,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print()
    print("\n".join(f"NOT MET: {problem}" for problem in problems) or "targets met")
    print(f"wrote {options.output}")


if __name__ == "__main__":
    main()
