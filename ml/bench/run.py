"""`make bench`: the service's throughput and latency next to a plain FastAPI peer (a report).

    python -m ml.bench.run [--warmup 2] [--seconds 8] [--concurrency 1 16 64]

Starts the bento the pipeline built (`bentoml serve`) twice, with prediction logging off
(`bentoml`: PREDICTION_LOG_SAMPLE_RATE=0) and on (`bentoml+log`: every model call logged to a
temporary folder), and ml/bench/peer.py on the same model file, each on a free 127.0.0.1 port.
An aiohttp closed loop (each of N clients sends its next request when the last one is answered)
drives each server in turn at every concurrency: a warm-up, then a measured window. Bodies hold
one row, so requests/s and rows/s (predictions/s) are equal; both are reported. Only 200 answers
count as served; anything else (a status, a timeout, a reset connection) is an error.

Targets: no errors; logging on serves at least 90% of logging off at every concurrency, and
logs every row it answered; logging off serves at least the peer at the top concurrency.

Also measured: the model's own `predict_proba` rows/s in this process at batch 1 and at batch 64
(what adaptive batching can reach at most), the prediction log's in-process cost per call
(`measure_overhead`), and the time of a `dvc repro` with nothing to do. Writes
reports/bench.json and prints tables. Numbers depend on the machine and on whatever else runs
on it: compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ml.core.paths import MODEL_FILE, REPO_ROOT, REPORTS_DIR, SAMPLE_REQUEST
from ml.serving.local import (
    NoBentoError,
    ServerStartError,
    free_port,
    latest_bento,
    running,
    serve_command,
    venv_env,
)
from ml.serving.prediction_log import LOG_SUFFIX, SAMPLE_RATE_ENV, URL_ENV, measure_overhead

BENCH_FILE = REPORTS_DIR / "bench.json"
CONCURRENCY = (1, 16, 64)
REQUEST_TIMEOUT_S = 30.0
# The peer's OpenMP/BLAS pools are also capped in-process; the env covers numpy's BLAS at import.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
SERVICE, LOGGING, PEER = "bentoml", "bentoml+log", "fastapi"
# Logging on must keep at least this share of the throughput with logging off.
MIN_LOGGING_RATIO = 0.9
# Logging off and on each run in this many slices, the later ones after a short lead-in.
SLICES = 8
SLICE_WARMUP_S = 0.5


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

    def add(self, other: LoadResult) -> None:
        """Fold in another measured window of the same server at the same concurrency."""
        self.seconds += other.seconds
        self.ok += other.ok
        self.errors += other.errors
        self.latencies_ms += other.latencies_ms

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


def logging_ratios(loads: list[LoadResult]) -> dict[int, float]:
    """Per concurrency: requests/s with prediction logging on over requests/s with it off."""
    rates = {(load.server, load.concurrency): load.requests_per_s for load in loads}
    return {
        level: rates[LOGGING, level] / rates[SERVICE, level]
        for server, level in rates
        if server == SERVICE and (LOGGING, level) in rates and rates[SERVICE, level] > 0
    }


def ratio_table(loads: list[LoadResult]) -> str:
    """Logging off and on side by side, as a Markdown table."""
    rates = {(load.server, load.concurrency): load.requests_per_s for load in loads}
    lines = ["| concurrency | log off req/s | log on req/s | on/off |", "|---|---|---|---|"]
    for level, ratio in logging_ratios(loads).items():
        off, on = rates[SERVICE, level], rates[LOGGING, level]
        lines.append(f"| {level} | {off:,.0f} | {on:,.0f} | {ratio:.1%} |")
    return "\n".join(lines)


def print_report(
    loads: list[LoadResult],
    predict: dict[int, float],
    overhead: Mapping[str, float],
    repro_s: float | None,
) -> None:
    print()
    print(table(loads))
    print()
    print(ratio_table(loads))
    print()
    for batch, rate in predict.items():
        print(f"in-process predict_proba, batch {batch:>3}: {rate:>10,.0f} rows/s")
    print(
        f"in-process prediction log: {overhead['log_call_us']:.1f} us a call, predict + log "
        f"{overhead['rows_per_s_predict_and_log']:,.0f} vs predict "
        f"{overhead['rows_per_s_predict']:,.0f} rows/s"
    )
    if repro_s is not None:
        print(f"no-op `dvc repro`: {repro_s:.2f} s")


def verdict(loads: list[LoadResult], logged_rows: int | None = None) -> list[str]:
    """What the service must meet: no errors; with logging on, at least MIN_LOGGING_RATIO of the
    throughput with it off and every answered row logged; at the top concurrency at least the
    peer."""
    problems = [
        f"{load.server} at concurrency {load.concurrency}: {sum(load.errors.values())} errors"
        for load in loads
        if load.server in (SERVICE, LOGGING) and load.errors
    ]
    problems += [
        f"with prediction logging on, {SERVICE} serves {ratio:.1%} of its rows/s at concurrency "
        f"{level} (target: at least {MIN_LOGGING_RATIO:.0%})"
        for level, ratio in logging_ratios(loads).items()
        if ratio < MIN_LOGGING_RATIO
    ]
    answered = sum(load.ok * load.rows_per_request for load in loads if load.server == LOGGING)
    if logged_rows is not None and logged_rows < answered:
        problems.append(f"{LOGGING} logged {logged_rows} rows, fewer than the {answered} it served")
    top = max(load.concurrency for load in loads)
    rates = {load.server: load.requests_per_s for load in loads if load.concurrency == top}
    if rates.get(SERVICE, 0.0) < rates.get(PEER, 0.0):
        problems.append(
            f"{SERVICE} serves {rates[SERVICE]:.0f} rows/s at concurrency {top}, "
            f"below the FastAPI peer's {rates[PEER]:.0f}"
        )
    return problems


async def measure(
    servers: dict[str, str],
    concurrency: list[int],
    warmup: float,
    seconds: float,
    slices: int = SLICES,
    lead_in: float = SLICE_WARMUP_S,
) -> list[LoadResult]:
    """Each server at each concurrency for `seconds`; logging off and on in alternating slices
    (off, on, on, off, ...): a load on the machine that comes and goes then slows both alike."""
    body, rows = one_row_body()
    paired = [name for name in (SERVICE, LOGGING) if name in servers]
    loads = []
    for level in concurrency:
        print(f"  concurrency {level:>3}:", end="", flush=True)
        merged: dict[str, LoadResult] = {}
        for index in range(slices):
            for name in paired if index % 2 == 0 else paired[::-1]:
                load = await closed_loop(
                    servers[name],
                    body,
                    rows,
                    name,
                    level,
                    lead_in if name in merged else warmup,
                    seconds / slices,
                )
                if name in merged:
                    merged[name].add(load)
                else:
                    merged[name] = load
        for name in servers:
            if name not in merged:
                merged[name] = await closed_loop(
                    servers[name], body, rows, name, level, warmup, seconds
                )
            load = merged[name]
            print(f"  {name} {load.requests_per_s:,.0f} req/s", end="", flush=True)
            loads.append(load)
        errors = sum(sum(merged[name].errors.values()) for name in servers)
        print(f", {errors} errors")
    return loads


@contextmanager
def serving(bento: str, env: Mapping[str, str]) -> Iterator[str]:
    port = free_port()
    with running(serve_command(bento, port), port, env) as url:
        yield url


def logged_rows(folder: Path) -> int:
    return sum(len(file.read_bytes().splitlines()) for file in folder.rglob(f"*{LOG_SUFFIX}"))


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
        overhead = measure_overhead()
        peer_port = free_port()
        peer = [sys.executable, "-m", "ml.bench.peer", "--port", str(peer_port)]
        peer += ["--workers", str(options.peer_workers), "--model", str(MODEL_FILE)]
        print(f"bench: {bento} with prediction logging off and on, a FastAPI peer, 1-row bodies")
        with tempfile.TemporaryDirectory(prefix="bench-predictions-") as log_dir:
            with (
                serving(bento, {SAMPLE_RATE_ENV: "0"}) as off_url,
                serving(bento, {SAMPLE_RATE_ENV: "1", URL_ENV: f"file://{log_dir}"}) as on_url,
                running(peer, peer_port, ONE_THREAD) as peer_url,
            ):
                servers = {SERVICE: off_url, LOGGING: on_url, PEER: peer_url}
                loads = asyncio.run(
                    measure(servers, options.concurrency, options.warmup, options.seconds)
                )
            # Counted once the servers have stopped: shutdown writes what is still queued.
            logged = logged_rows(Path(log_dir))
    except (NoBentoError, BenchError, ServerStartError) as error:
        raise SystemExit(f"bench: {error}") from None

    print_report(loads, predict, overhead, repro_s)
    problems = verdict(loads, logged)
    report = {
        "bento": bento,
        "cpus": os.cpu_count(),
        "rows_per_request": 1,
        "warmup_s": options.warmup,
        "load": [load.summary() for load in loads],
        "prediction_log": {
            "on_off_ratio": {str(level): round(r, 3) for level, r in logging_ratios(loads).items()},
            "target_ratio": MIN_LOGGING_RATIO,
            "rows_logged": logged,
            "in_process": {key: round(value, 2) for key, value in overhead.items()},
        },
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
