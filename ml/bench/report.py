"""What `make bench` prints and writes: Markdown tables, the targets' verdict, reports/bench.json.

Targets: no errors; logging on serves at least MIN_LOGGING_RATIO of logging off at every
concurrency, and logs every row it answered; logging off serves at least the peer at the top
concurrency.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ml.bench.load import LoadResult
from ml.bench.servers import LOGGING, PEER, SERVICE

# Logging on must keep at least this share of the throughput with logging off.
MIN_LOGGING_RATIO = 0.9

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


def bench_report(
    *,
    bento: str,
    warmup: float,
    loads: list[LoadResult],
    logged: int,
    overhead: Mapping[str, float],
    predict: dict[int, float],
    repro_s: float | None,
    problems: list[str],
) -> dict[str, Any]:
    """The content of reports/bench.json."""
    return {
        "bento": bento,
        "cpus": os.cpu_count(),
        "rows_per_request": 1,
        "warmup_s": warmup,
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
