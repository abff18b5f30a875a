"""What `make bench` prints and writes: Markdown tables, the targets' verdict, reports/bench.json.

Targets: no errors from any server; logging on serves at least MIN_LOGGING_RATIO of logging off
at every concurrency, and logs every row it answered; logging off serves at least the best peer
(MLServer, FastAPI) at every concurrency, by each client's count (ours and wrk); the median
no-op `dvc repro` is under ml/bench/noop_repro.py's TARGET_S.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ml.bench.load import LoadResult
from ml.bench.noop_repro import print_summary
from ml.bench.servers import LOGGING, PEERS, SERVICE


class Result(Protocol):
    """A measured window of one server at one concurrency, from either client."""

    server: str
    concurrency: int

    @property
    def requests_per_s(self) -> float: ...

    def summary(self) -> dict[str, Any]: ...


# Logging on must keep at least this share of the throughput with logging off.
MIN_LOGGING_RATIO = 0.9

COLUMNS = (
    ("server", "server"),
    ("client", "client"),
    ("concurrency", "concurrency"),
    ("req/s", "requests_per_s"),
    ("rows/s", "rows_per_s"),
    ("p50 ms", "p50_ms"),
    ("p99 ms", "p99_ms"),
    ("errors", "errors"),
)


def table(loads: Sequence[Result]) -> str:
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


def peer_ratios(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Per client and concurrency: the bento's requests/s over the best peer's, and both p99s."""
    cells: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for result in results:
        row = result.summary()
        cells.setdefault((row["client"], row["concurrency"]), {})[row["server"]] = row
    ratios = []
    for (client, level), rows in cells.items():
        peers = [rows[name] for name in PEERS if name in rows]
        if SERVICE not in rows or not peers:
            continue
        best = max(peers, key=lambda row: row["requests_per_s"])
        ours = rows[SERVICE]
        ratio = ours["requests_per_s"] / best["requests_per_s"] if best["requests_per_s"] else None
        ratios.append(
            {
                "client": client,
                "concurrency": level,
                "best_peer": best["server"],
                "bentoml_requests_per_s": ours["requests_per_s"],
                "peer_requests_per_s": best["requests_per_s"],
                "ratio": None if ratio is None else round(ratio, 3),
                "bentoml_p99_ms": ours["p99_ms"],
                "peer_p99_ms": best["p99_ms"],
            }
        )
    return ratios


def peer_table(ratios: Sequence[Mapping[str, Any]]) -> str:
    """The bento against the best peer per client and concurrency, as a Markdown table."""
    lines = [
        "| client | concurrency | bentoml req/s | best peer | peer req/s | ratio "
        "| p99 ms (bento / peer) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in ratios:
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        lines.append(
            f"| {row['client']} | {row['concurrency']} | {row['bentoml_requests_per_s']:,.0f} | "
            f"{row['best_peer']} | {row['peer_requests_per_s']:,.0f} | {ratio} | "
            f"{row['bentoml_p99_ms']} / {row['peer_p99_ms']} |"
        )
    return "\n".join(lines)


def print_report(
    results: Sequence[Result],
    predict: dict[int, float],
    overhead: Mapping[str, float],
    noop: Mapping[str, Any] | None,
) -> None:
    loads = [result for result in results if isinstance(result, LoadResult)]
    print()
    print(table(results))
    print()
    print(peer_table(peer_ratios(results)))
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
    if noop is not None:
        print_summary(noop)


def verdict(
    results: Sequence[Result],
    logged_rows: int | None = None,
    noop: Mapping[str, Any] | None = None,
) -> list[str]:
    """What the service must meet: no errors (a peer's errors spoil the comparison too); with
    logging on, at least MIN_LOGGING_RATIO of the throughput with it off and every answered row
    logged; at every concurrency, by each client, at least the best peer. And a no-op `dvc
    repro` under its target, when it was timed."""
    loads = [result for result in results if isinstance(result, LoadResult)]
    problems = [
        f"{row['server']} at concurrency {row['concurrency']} ({row['client']}): "
        f"{row['errors']} errors"
        for row in (result.summary() for result in results)
        if row["errors"]
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
    problems += [
        f"{SERVICE} serves {row['bentoml_requests_per_s']:.0f} req/s at concurrency "
        f"{row['concurrency']} ({row['client']}), {row['ratio']:.2f}x {row['best_peer']}'s "
        f"{row['peer_requests_per_s']:.0f} (target: at least 1.0x the best peer)"
        for row in peer_ratios(results)
        if row["ratio"] is not None and row["ratio"] < 1.0
    ]
    if noop is not None and not noop["under_target"]:
        problems.append(
            f"a no-op `dvc repro` takes a median {noop['median_s']:.2f} s of {noop['runs']} runs "
            f"(target: under {noop['target_s']:.1f} s)"
        )
    return problems


def bench_report(
    *,
    bento: str,
    warmup: float,
    loads: Sequence[Result],
    logged: int,
    versions: Mapping[str, Any],
    overhead: Mapping[str, float],
    predict: dict[int, float],
    noop: Mapping[str, Any] | None,
    problems: list[str],
) -> dict[str, Any]:
    """The content of reports/bench.json."""
    ours = [load for load in loads if isinstance(load, LoadResult)]
    return {
        "bento": bento,
        "cpus": os.cpu_count(),
        "versions": dict(versions),
        "rows_per_request": 1,
        "warmup_s": warmup,
        "load": [load.summary() for load in loads],
        "peer_ratios": peer_ratios(loads),
        "prediction_log": {
            "on_off_ratio": {str(level): round(r, 3) for level, r in logging_ratios(ours).items()},
            "target_ratio": MIN_LOGGING_RATIO,
            "rows_logged": logged,
            "in_process": {key: round(value, 2) for key, value in overhead.items()},
        },
        "predict_rows_per_s": {str(batch): round(rate) for batch, rate in predict.items()},
        "noop_repro": None if noop is None else dict(noop),
        "problems": problems,
    }
