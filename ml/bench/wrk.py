"""The outside load generator: Debian's `wrk`, posting each server's body, as a cross-check.

wrk (C, one thread, epoll) keeps N connections each sending its next request when the last one
is answered, like ml/bench/load.py's closed loop, but costs the machine far less CPU per request
than a Python client: on a small machine both are reported side by side. A Lua script sets the
method, body and Content-Type, and prints wrk's summary as one JSON line when the run is done;
answers that are not 2xx or 3xx count as errors (wrk's `status` errors), as do connect, read,
write errors and timeouts.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.bench.servers import Endpoint, slice_order

WRK_TIMEOUT_S = 30
# Each server's measured seconds run in this many alternating slices of whole seconds: as many
# rounds as our client's, for the rounds' paired ratios (ml/bench/report.py).
WRK_SLICES = 8
ERROR_KINDS = ("connect", "read", "write", "status", "timeout")
# The JSON line the script's done() prints: requests, microseconds, errors, latency percentiles.
RESULT_LINE = (
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    + ", ".join(f'"{kind}": %d' for kind in ERROR_KINDS)
    + "}"
)


class WrkError(RuntimeError):
    """wrk is missing or its run failed; the message says why."""


def lua_string(text: str) -> str:
    """`text` as a Lua long-bracket literal, whose level no `]=...]` in the text can close."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    equals = "=" * level
    # A long bracket drops a newline right after its opening: keep one that starts the text.
    return f"[{equals}[\n{text}]{equals}]"


def script(body: bytes, content_type: str = "application/json") -> str:
    """The Lua script: POST `body`; at the end, the summary as one JSON line on stdout."""
    values = ", ".join(
        [
            "summary.requests",
            "summary.duration",
            "latency:percentile(50)",
            "latency:percentile(99)",
            *(f"summary.errors.{kind}" for kind in ERROR_KINDS),
        ]
    )
    return "\n".join(
        [
            'wrk.method = "POST"',
            f"wrk.body = {lua_string(body.decode('utf-8'))}",
            f'wrk.headers["Content-Type"] = {lua_string(content_type)}',
            "function done(summary, latency, requests)",
            f"  io.write(string.format({lua_string(RESULT_LINE)} .. '\\n', {values}))",
            "end",
            "",
        ]
    )


@dataclass
class WrkResult:
    server: str
    concurrency: int
    seconds: float
    rows_per_request: int
    requests: int
    p50_ms: float
    p99_ms: float
    errors: dict[str, int] = field(default_factory=dict)
    client: str = "wrk"
    # Each slice's requests/s, in the order measured (one a round of slices).
    slice_rates: list[float] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.requests - self.errors.get("status", 0)

    @property
    def requests_per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "client": self.client,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "requests": self.ok,
            "requests_per_s": round(self.requests_per_s, 1),
            "rows_per_s": round(self.requests_per_s * self.rows_per_request, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "errors": sum(self.errors.values()),
            "error_kinds": {kind: count for kind, count in self.errors.items() if count},
            "slice_requests_per_s": [round(rate, 1) for rate in self.slice_rates],
        }


def parse(output: str, server: str, concurrency: int, rows: int) -> WrkResult:
    """The result from wrk's stdout: the script's JSON line (the last line starting with `{`)."""
    lines = [line for line in output.splitlines() if line.startswith('{"requests"')]
    if not lines:
        raise WrkError(f"no result line in wrk's output:\n{output[-2000:]}")
    values = json.loads(lines[-1])
    result = WrkResult(
        server=server,
        concurrency=concurrency,
        seconds=values["duration_us"] / 1e6,
        rows_per_request=rows,
        requests=values["requests"],
        p50_ms=values["p50_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
        errors={kind: values[kind] for kind in ERROR_KINDS},
    )
    result.slice_rates.append(result.requests_per_s)
    return result


def command(url: str, script_file: Path, concurrency: int, seconds: int) -> list[str]:
    """One wrk thread (the machine's cores serve), `concurrency` connections, `seconds` long."""
    if concurrency < 1 or seconds < 1:
        raise ValueError(
            f"wrk needs concurrency >= 1 and seconds >= 1, not {concurrency}, {seconds}"
        )
    executable = shutil.which("wrk")
    if executable is None:
        raise WrkError("wrk is not installed: `apt-get install wrk` (Debian) or skip it: --no-wrk")
    return [
        executable,
        "--threads",
        "1",
        "--connections",
        str(concurrency),
        "--duration",
        f"{seconds}s",
        "--timeout",
        f"{WRK_TIMEOUT_S}s",
        "--script",
        str(script_file),
        url,
    ]


def run_wrk(
    url: str, body: bytes, server: str, concurrency: int, seconds: float, rows: int = 1
) -> WrkResult:
    """wrk against `url` (the full endpoint) for about `seconds` (whole seconds, at least 1)."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script_file = Path(tmp) / "post.lua"
        script_file.write_text(script(body), encoding="utf-8")
        argv = command(url, script_file, concurrency, max(1, round(seconds)))
        result = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=seconds + 60
        )
    if result.returncode != 0:
        raise WrkError(f"wrk failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return parse(result.stdout, server, concurrency, rows)


def wrk_version() -> str:
    """`wrk -v`'s first line, e.g. `wrk 4.1.0 [epoll] ...`; empty without wrk."""
    executable = shutil.which("wrk")
    if executable is None:
        return ""
    # wrk -v prints its version, then its usage, and exits 1.
    result = subprocess.run([executable, "-v"], capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).splitlines()[0].strip()


def merged(slices: Sequence[WrkResult]) -> WrkResult:
    """One server's slices as one result: requests, time and errors added up; p50 the median of
    the slices' p50s, p99 the highest slice's (wrk reports percentiles, not latencies)."""
    first = slices[0]
    return WrkResult(
        server=first.server,
        concurrency=first.concurrency,
        seconds=sum(part.seconds for part in slices),
        rows_per_request=first.rows_per_request,
        requests=sum(part.requests for part in slices),
        p50_ms=statistics.median(part.p50_ms for part in slices),
        p99_ms=max(part.p99_ms for part in slices),
        errors={kind: sum(part.errors.get(kind, 0) for part in slices) for kind in ERROR_KINDS},
        slice_rates=[rate for part in slices for rate in part.slice_rates],
    )


def measure_wrk(
    servers: Mapping[str, Endpoint],
    concurrency: Sequence[int],
    warmup: float,
    seconds: float,
    slices: int = WRK_SLICES,
) -> list[WrkResult]:
    """wrk against each server at each concurrency: a warm-up run each, then `seconds` each in
    alternating slices (`slice_order`), as our client measures."""
    results = []
    names = list(servers)
    for level in concurrency:
        print(f"  wrk, concurrency {level:>3}:", end="", flush=True)
        if warmup > 0:
            for name in names:
                run_wrk(servers[name].target, servers[name].body, name, level, warmup)
        parts: dict[str, list[WrkResult]] = {name: [] for name in names}
        for name in slice_order(names, slices):
            endpoint = servers[name]
            parts[name].append(
                run_wrk(endpoint.target, endpoint.body, name, level, seconds / slices)
            )
        measured = {name: merged(parts[name]) for name in names}
        for name in names:
            print(f"  {name} {measured[name].requests_per_s:,.0f} req/s", end="", flush=True)
        print(f", {sum(sum(r.errors.values()) for r in measured.values())} errors")
        results += [measured[name] for name in names]
    return results
