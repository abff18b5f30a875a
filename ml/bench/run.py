"""`make bench`: the service's throughput and latency next to two peers (a report).

    python -m ml.bench.run [--warmup 2] [--seconds 8] [--concurrency 1 16 64] [--no-wrk]

Starts the bento the pipeline built (`bentoml serve`) twice, with prediction logging off
(`bentoml`: PREDICTION_LOG_SAMPLE_RATE=0) and on (`bentoml+log`: every model call logged to a
temporary folder), and two peers on the same model file with as many workers: MLServer with its
adaptive batching (ml/bench/mlserver.py, from .venv-bench) and FastAPI (ml/bench/peer.py), each
on a free 127.0.0.1 port. An aiohttp closed loop (each of N clients sends its next request when
the last one is answered) drives the servers at every concurrency in alternating slices (a
warm-up, then the measured windows); then Debian's wrk does the same for the bento and the peers
as a cross-check (ml/bench/wrk.py). Bodies hold one row, so requests/s and rows/s (predictions/s)
are equal; both are reported. Only 200 answers count as served (wrk: 2xx/3xx); anything else (a
status, a timeout, a reset connection) is an error.

Targets: no errors; logging on serves at least 90% of logging off at every concurrency, and
logs every row it answered; logging off serves at least the best peer at every concurrency, by
each client; a no-op `dvc repro` takes under 1 s (the median of 5).

Also measured: the model's own `predict_proba` rows/s in this process at batch 1 and at batch 64
(what adaptive batching can reach at most), the prediction log's in-process cost per call
(ml/bench/log_overhead.py), and the time of a `dvc repro` with nothing to do (ml/bench/
noop_repro.py, as `make bench-noop` measures it). Writes
reports/bench.json and prints tables. Numbers depend on the machine and on whatever else runs
on it: compare runs on the same machine only.

`--soak SECONDS` instead soaks the bento alone at concurrency 64 (ml/bench/soak.py): errors, p99
per interval and the workers' memory at the start and the end, in reports/bench-soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ml.bench.load import measure
from ml.bench.log_overhead import measure_overhead
from ml.bench.mlserver import PEER_VENV
from ml.bench.noop_repro import NoopBenchError, noop_report
from ml.bench.report import bench_report, print_report, verdict
from ml.bench.servers import LOGGING, MLSERVER, PEER, SERVICE, bench_servers, logged_rows
from ml.bench.soak import INTERVAL_S, MAX_SOAK_S, SOAK_FILE, run_soak, soak_table
from ml.bench.timings import BenchError, predict_rows_per_s
from ml.bench.versions import bench_versions
from ml.bench.wrk import WrkError, measure_wrk
from ml.core.paths import MODEL_FILE, REPORTS_DIR
from ml.serving.local import NoBentoError, ServerStartError, latest_bento

BENCH_FILE = REPORTS_DIR / "bench.json"
CONCURRENCY = (1, 16, 64)
NAMES = (SERVICE, MLSERVER, PEER)


def _loop(packages: dict[str, str]) -> str:
    """`uvloop 0.21.0 / httptools 0.9.0`, or `asyncio / h11` for what uvicorn falls back to."""
    loop = f"uvloop {packages['uvloop']}" if packages.get("uvloop") else "asyncio"
    http = f"httptools {packages['httptools']}" if packages.get("httptools") else "h11"
    return f"{loop} / {http}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY))
    parser.add_argument("--bento", help="NAME:VERSION (default: the one reports/bento.json names)")
    parser.add_argument("--peer-workers", type=int, default=2)
    parser.add_argument("--peer-venv", type=Path, default=PEER_VENV, help="MLServer's venv")
    parser.add_argument("--no-wrk", action="store_true", help="our client only")
    parser.add_argument("--skip-repro", action="store_true", help="do not time `dvc repro`")
    parser.add_argument(
        "--output", type=Path, help=f"default {BENCH_FILE.name}, soak: {SOAK_FILE.name}"
    )
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="soak the bento this long")
    parser.add_argument("--interval", type=float, default=INTERVAL_S, help="soak: seconds per row")
    return parser


def soak(options: argparse.Namespace) -> None:
    """`--soak`: the bento alone at concurrency 64 for minutes, its figures per interval."""
    try:
        report = run_soak(
            options.bento or latest_bento(), options.soak, options.interval, options.warmup
        )
    except (NoBentoError, BenchError, ServerStartError) as error:
        raise SystemExit(f"bench: {error}") from None
    output = options.output or SOAK_FILE
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print()
    print(soak_table(report))
    print("\n".join(f"NOT MET: {problem}" for problem in report["problems"]) or "no errors")
    print(f"wrote {output}")


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    options = parser.parse_args(argv)
    if options.soak is not None:
        if not 0 < options.soak <= MAX_SOAK_S or not 0 < options.interval <= options.soak:
            parser.error(f"--soak takes 0 < SECONDS <= {MAX_SOAK_S:g}, --interval 0 < s <= SECONDS")
        soak(options)
        return
    try:
        # Timed first, before any server loads the machine; the Makefile's `dvc repro` has
        # brought the pipeline up to date (a stale one is refused, never run while timed).
        noop = None if options.skip_repro else noop_report()
        bento = options.bento or latest_bento()
        predict = {batch: predict_rows_per_s(MODEL_FILE, batch) for batch in (1, 64)}
        overhead = measure_overhead()
        versions = bench_versions(options.peer_venv)
        print(f"bench: {bento} with prediction logging off and on, MLServer and FastAPI peers")
        with tempfile.TemporaryDirectory(prefix="bench-predictions-") as log_dir:
            servers_at = bench_servers(
                bento, Path(log_dir), options.peer_workers, options.peer_venv
            )
            with servers_at as servers:
                loads: list[Any] = asyncio.run(
                    measure(servers, options.concurrency, options.warmup, options.seconds)
                )
                if not options.no_wrk:
                    # The logging bento is our own client's comparison only.
                    others = {name: end for name, end in servers.items() if name != LOGGING}
                    loads = [
                        *loads,
                        *measure_wrk(others, options.concurrency, options.warmup, options.seconds),
                    ]
            # Counted once the servers have stopped: shutdown writes what is still queued.
            logged = logged_rows(Path(log_dir))
    except (NoBentoError, BenchError, NoopBenchError, ServerStartError, WrkError) as error:
        raise SystemExit(f"bench: {error}") from None

    print_report(loads, predict, overhead, noop)
    print(
        f"{os.cpu_count()} cores; bentoml {versions[SERVICE]['bentoml']}, "
        f"mlserver {versions[MLSERVER]['mlserver']}, fastapi {versions[PEER]['fastapi']}; "
        f"uvloop/httptools: {', '.join(f'{name} {_loop(versions[name])}' for name in NAMES)}"
    )
    problems = verdict(loads, logged, noop)
    report = bench_report(
        bento=bento,
        warmup=options.warmup,
        loads=loads,
        logged=logged,
        versions=versions,
        overhead=overhead,
        predict=predict,
        noop=noop,
        problems=problems,
    )
    output = options.output or BENCH_FILE
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print()
    print("\n".join(f"NOT MET: {problem}" for problem in problems) or "targets met")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
