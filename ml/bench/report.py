"""What `make bench` prints and writes: Markdown tables, the targets' verdict, reports/bench.json.

Targets: no errors from any server; logging on serves at least MIN_LOGGING_RATIO of logging off
at every concurrency, and logs every row it answered; logging off serves at least the best peer
(MLServer, FastAPI) at every concurrency, by each client's count (ours and wrk); the median
no-op `dvc repro` is under ml/bench/noop_repro.py's TARGET_S.

A ratio is judged round by round where the servers ran in rounds of slices (both clients do): a
round measures each server back to back, so a slowdown of the machine that lasts a round slows
them alike, and the median of the rounds' ratios is not swayed by one round that a burst of other
work spoiled, as the ratio of the totals is. Both are reported.
"""

from __future__ import annotations

import os
import statistics
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


def round_ratios(ours: Sequence[float], other: Sequence[float]) -> list[float]:
    """Our rate over the other's in each round of slices; none unless both ran the same rounds."""
    if len(ours) != len(other):
        return []
    return [mine / theirs for mine, theirs in zip(ours, other, strict=True) if theirs > 0]


def paired(ours: Sequence[float], other: Sequence[float]) -> float | None:
    """The median of the rounds' ratios; None without rounds."""
    ratios = round_ratios(ours, other)
    return statistics.median(ratios) if ratios else None


def logging_ratios(loads: list[LoadResult]) -> dict[int, float]:
    """Per concurrency: requests/s with prediction logging on over requests/s with it off,
    round by round when both ran in rounds, else of the totals."""
    by_key = {(load.server, load.concurrency): load for load in loads}
    ratios = {}
    for (server, level), off in by_key.items():
        on = by_key.get((LOGGING, level))
        if server != SERVICE or on is None or off.requests_per_s <= 0:
            continue
        by_round = paired(on.slice_rates, off.slice_rates)
        ratios[level] = on.requests_per_s / off.requests_per_s if by_round is None else by_round
    return ratios


def ratio_table(loads: list[LoadResult]) -> str:
    """Logging off and on side by side, as a Markdown table."""
    rates = {(load.server, load.concurrency): load.requests_per_s for load in loads}
    lines = [
        "| concurrency | log off req/s | log on req/s | on/off | round by round |",
        "|---|---|---|---|---|",
    ]
    for level, ratio in logging_ratios(loads).items():
        off, on = rates[SERVICE, level], rates[LOGGING, level]
        lines.append(f"| {level} | {off:,.0f} | {on:,.0f} | {on / off:.1%} | {ratio:.1%} |")
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
        rounds = round_ratios(ours["slice_requests_per_s"], best["slice_requests_per_s"])
        ratios.append(
            {
                "client": client,
                "concurrency": level,
                "best_peer": best["server"],
                "bentoml_requests_per_s": ours["requests_per_s"],
                "peer_requests_per_s": best["requests_per_s"],
                "ratio": None if ratio is None else round(ratio, 3),
                "round_ratios": [round(value, 3) for value in rounds],
                "paired_ratio": round(statistics.median(rounds), 3) if rounds else None,
                "bentoml_p99_ms": ours["p99_ms"],
                "peer_p99_ms": best["p99_ms"],
            }
        )
    return ratios


def peer_table(ratios: Sequence[Mapping[str, Any]]) -> str:
    """The bento against the best peer per client and concurrency, as a Markdown table."""
    lines = [
        "| client | concurrency | bentoml req/s | best peer | peer req/s | ratio "
        "| round by round (range, rounds) | p99 ms (bento / peer) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in ratios:
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        rounds = row["round_ratios"]
        by_round = (
            f"{row['paired_ratio']:.2f}x ({min(rounds):.2f}-{max(rounds):.2f}, {len(rounds)})"
            if rounds
            else "n/a"
        )
        lines.append(
            f"| {row['client']} | {row['concurrency']} | {row['bentoml_requests_per_s']:,.0f} | "
            f"{row['best_peer']} | {row['peer_requests_per_s']:,.0f} | {ratio} | {by_round} | "
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
        f"{level} (round by round where measured in rounds; target: at least "
        f"{MIN_LOGGING_RATIO:.0%})"
        for level, ratio in logging_ratios(loads).items()
        if ratio < MIN_LOGGING_RATIO
    ]
    answered = sum(load.ok * load.rows_per_request for load in loads if load.server == LOGGING)
    if logged_rows is not None and logged_rows < answered:
        problems.append(f"{LOGGING} logged {logged_rows} rows, fewer than the {answered} it served")
    problems += [peer_problem(row) for row in peer_ratios(results) if judged_ratio(row) < 1.0]
    if noop is not None and not noop["under_target"]:
        problems.append(
            f"a no-op `dvc repro` takes a median {noop['median_s']:.2f} s of {noop['runs']} runs "
            f"(target: under {noop['target_s']:.1f} s)"
        )
    return problems


def judged_ratio(row: Mapping[str, Any]) -> float:
    """What a cell is judged by: its rounds' median ratio, else the totals' (inf: no peer rate)."""
    if row["paired_ratio"] is not None:
        return row["paired_ratio"]
    return float("inf") if row["ratio"] is None else row["ratio"]


def peer_problem(row: Mapping[str, Any]) -> str:
    by_round = "" if row["paired_ratio"] is None else f", {row['paired_ratio']:.2f}x round by round"
    return (
        f"{SERVICE} serves {row['bentoml_requests_per_s']:.0f} req/s at concurrency "
        f"{row['concurrency']} ({row['client']}), {row['ratio']:.2f}x {row['best_peer']}'s "
        f"{row['peer_requests_per_s']:.0f}{by_round} (target: at least 1.0x the best peer)"
    )


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
