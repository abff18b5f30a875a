"""The load generator: an aiohttp closed loop per server and concurrency, and its results.

Each of N clients sends its next request when the last one is answered: a warm-up, then a
measured window. Only 200 answers count as served; anything else (a status, a timeout, a reset
connection) is an error.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ml.bench.servers import Endpoint, one_row_body, slice_order

__all__ = ["LoadResult", "closed_loop", "measure", "one_row_body"]

CLIENT = "aiohttp"

REQUEST_TIMEOUT_S = 30.0
# Every server runs in this many slices, the later ones after a short lead-in.
SLICES = 8
SLICE_WARMUP_S = 0.5


@dataclass
class LoadResult:
    server: str
    concurrency: int
    seconds: float
    rows_per_request: int
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    # Each measured window's requests/s, in the order measured (one a round of slices).
    slice_rates: list[float] = field(default_factory=list)

    @property
    def requests_per_s(self) -> float:
        return self.ok / self.seconds

    def add(self, other: LoadResult) -> None:
        """Fold in another measured window of the same server at the same concurrency."""
        self.seconds += other.seconds
        self.ok += other.ok
        self.errors += other.errors
        self.latencies_ms += other.latencies_ms
        self.slice_rates += other.slice_rates

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "client": CLIENT,
            "concurrency": self.concurrency,
            "seconds": self.seconds,
            "requests": self.ok,
            "requests_per_s": round(self.requests_per_s, 1),
            "rows_per_s": round(self.requests_per_s * self.rows_per_request, 1),
            "p50_ms": round(self.percentile(0.50), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "slice_requests_per_s": [round(rate, 1) for rate in self.slice_rates],
        }


async def closed_loop(
    url: str,
    body: bytes,
    rows: int,
    server: str,
    concurrency: int,
    warmup: float,
    seconds: float,
    path: str = "/predict",
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
                async with session.post(url + path, data=body, headers=headers) as answer:
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
    result.slice_rates.append(result.requests_per_s)
    return result


async def _window(
    endpoint: Endpoint, name: str, level: int, warmup: float, seconds: float
) -> LoadResult:
    return await closed_loop(
        endpoint.url, endpoint.body, 1, name, level, warmup, seconds, path=endpoint.path
    )


async def _slices(
    servers: Mapping[str, Endpoint],
    level: int,
    warmup: float,
    seconds: float,
    slices: int,
    lead_in: float,
) -> dict[str, LoadResult]:
    """Every server at one concurrency, in alternating slices merged per server."""
    merged: dict[str, LoadResult] = {}
    for name in slice_order(list(servers), slices):
        lead = lead_in if name in merged else warmup
        load = await _window(servers[name], name, level, lead, seconds / slices)
        if name in merged:
            merged[name].add(load)
        else:
            merged[name] = load
    return merged


async def measure(
    servers: Mapping[str, Endpoint],
    concurrency: list[int],
    warmup: float,
    seconds: float,
    slices: int = SLICES,
    lead_in: float = SLICE_WARMUP_S,
) -> list[LoadResult]:
    """Each server at each concurrency for `seconds`, all of them in alternating slices (a, b, c,
    c, b, a, ...): a load on the machine that comes and goes then slows them alike."""
    loads = []
    for level in concurrency:
        print(f"  concurrency {level:>3}:", end="", flush=True)
        merged = await _slices(servers, level, warmup, seconds, slices, lead_in)
        for name in servers:
            load = merged[name]
            print(f"  {name} {load.requests_per_s:,.0f} req/s", end="", flush=True)
            loads.append(load)
        errors = sum(sum(merged[name].errors.values()) for name in servers)
        print(f", {errors} errors")
    return loads
