"""Adaptive batching on the event loop: the rows of the requests waiting together, in one call.

BentoML's own batching (its CorkDispatcher) costs each request a hop through its controller task,
a hop to a worker thread and back, and polls at 1 ms while it waits for a batch to fill: at
concurrency 1 about a fifth of the framework's CPU per request, besides the two thread switches
(py-spy on a worker under `make bench`).
Here a request that finds nothing queued schedules one flush on the next turn of the event loop
and waits for it; requests that arrive meanwhile join it. The model runs on the loop itself:
while it does, new requests wait in their sockets, and the next flush takes all of them, so
batches grow with the load and a lone request never waits for company. While the last batch
held a single request (one client at a time), the first request of a turn that finds nothing
queued is scored at once, without the hop to the next turn; a second one in the same turn is
company: it is queued, and its batch switches the batcher back to batching.

A request that has waited longer than `max_latency_s` for its flush is shed (503), as BentoML's
dispatcher does, instead of being answered after its client gave up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from bentoml.exceptions import ServiceUnavailable

T = TypeVar("T")


class Batcher(Generic[T]):
    """Calls `score(rows)` with the concatenated rows of the requests queued together.

    `score` returns one result per row, in order; each request gets its own rows' results. A
    flush calls it once per group of at most `max_rows` rows (a larger request is a group by
    itself); `max_rows=1` scores every request alone.
    """

    def __init__(
        self, score: Callable[[list[Any]], Sequence[T]], max_rows: int, max_latency_s: float
    ) -> None:
        if max_rows < 1 or max_latency_s <= 0:
            raise ValueError(f"max_rows {max_rows} and max_latency_s {max_latency_s} must be > 0")
        self.score = score
        self.max_rows = max_rows
        self.max_latency_s = max_latency_s
        self._queue: list[tuple[Sequence[Any], asyncio.Future[Sequence[T]], float]] = []
        self._alone = False  # whether the last batch held one request
        self._scored_this_turn = False  # a request was scored at once in this turn of the loop

    async def __call__(self, rows: Sequence[Any]) -> Sequence[T]:
        loop = asyncio.get_running_loop()
        if self._alone and not self._queue and not self._scored_this_turn:
            self._scored_this_turn = True
            loop.call_soon(self._next_turn)
            return self.score(list(rows))
        if not self._queue:
            loop.call_soon(self._flush)
        answer: asyncio.Future[Sequence[T]] = loop.create_future()
        self._queue.append((rows, answer, loop.time()))
        return await answer

    def _next_turn(self) -> None:
        self._scored_this_turn = False

    def _flush(self) -> None:
        queue, self._queue = self._queue, []
        self._alone = len(queue) == 1
        oldest = asyncio.get_running_loop().time() - self.max_latency_s
        group: list[tuple[Sequence[Any], asyncio.Future[Sequence[T]]]] = []
        size = 0
        for rows, answer, queued in queue:
            if answer.done():  # the client went away: its task was cancelled
                continue
            if queued < oldest:
                answer.set_exception(ServiceUnavailable("process is overloaded"))
                continue
            if group and size + len(rows) > self.max_rows:
                self._score(group)
                group, size = [], 0
            group.append((rows, answer))
            size += len(rows)
        if group:
            self._score(group)

    def _score(self, group: list[tuple[Sequence[Any], asyncio.Future[Sequence[T]]]]) -> None:
        rows = [row for request_rows, _ in group for row in request_rows]
        try:
            results = self.score(rows)
        except Exception as error:  # every request of the group gets the model's error (500)
            for _, answer in group:
                answer.set_exception(error)
            return
        start = 0
        for request_rows, answer in group:
            end = start + len(request_rows)
            answer.set_result(results[start:end])
            start = end
