"""Adaptive batching on the event loop: who shares a model call, who waits, who is shed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from bentoml.exceptions import ServiceUnavailable

from ml.serving.batching import Batcher


class Model:
    """Doubles each row, noting the rows of every call."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[int]] = []
        self.fail = fail

    def __call__(self, rows: list[Any]) -> Sequence[int]:
        self.calls.append(list(rows))
        if self.fail:
            raise RuntimeError("model failed")
        return [2 * row for row in rows]


async def together(batcher: Batcher[int], *requests: list[int]) -> list[Any]:
    """The requests reach the batcher in the same turn of the event loop."""
    return await asyncio.gather(*(batcher(rows) for rows in requests), return_exceptions=True)


def test_requests_waiting_together_share_one_call_and_get_their_own_rows() -> None:
    model = Model()
    batcher = Batcher(model, max_rows=64, max_latency_s=1.0)
    answers = asyncio.run(together(batcher, [1], [2, 3], [4]))
    assert answers == [[2], [4, 6], [8]]
    assert model.calls == [[1, 2, 3, 4]]


def test_a_call_holds_at_most_max_rows_and_a_larger_request_goes_alone() -> None:
    model = Model()
    batcher = Batcher(model, max_rows=3, max_latency_s=1.0)
    answers = asyncio.run(together(batcher, [1], [2], [3], [4], [5, 6, 7, 8], [9]))
    assert answers == [[2], [4], [6], [8], [10, 12, 14, 16], [18]]
    assert model.calls == [[1, 2, 3], [4], [5, 6, 7, 8], [9]]


def test_one_row_a_call_when_batching_is_off() -> None:
    model = Model()
    asyncio.run(together(Batcher(model, max_rows=1, max_latency_s=1.0), [1], [2]))
    assert model.calls == [[1], [2]]


def test_a_lone_client_is_scored_at_once_and_company_brings_batching_back() -> None:
    model = Model()
    batcher = Batcher(model, max_rows=64, max_latency_s=1.0)

    async def scenario() -> list[Any]:
        first = await batcher([1])  # waits one turn: nobody yet knows it is alone
        # Alone since: scored before the request even yields to the loop.
        second = batcher([2])
        with pytest.raises(StopIteration) as done:
            second.send(None)
        # Two in one turn: the first is scored at once, the second is company and waits for
        # the next turn; its batch held one request, so the next pair starts the same way.
        pair = await together(batcher, [3], [4])
        # Three in one turn: the first at once, two batched; batching is back for the next.
        three = await together(batcher, [5], [6], [7])
        again = await together(batcher, [8], [9])
        return [first, done.value.value, pair, three, again]

    answers = asyncio.run(scenario())
    assert answers == [[2], [4], [[6], [8]], [[10], [12], [14]], [[16], [18]]]
    assert model.calls == [[1], [2], [3], [4], [5], [6, 7], [8, 9]]


def test_a_failing_model_fails_each_request_of_its_call() -> None:
    batcher = Batcher(Model(fail=True), max_rows=64, max_latency_s=1.0)
    answers = asyncio.run(together(batcher, [1], [2]))
    assert [str(answer) for answer in answers] == ["model failed", "model failed"]


def test_requests_that_waited_too_long_are_shed_with_503() -> None:
    model = Model()
    batcher = Batcher(model, max_rows=64, max_latency_s=0.05)

    async def scenario() -> list[Any]:
        stale = asyncio.ensure_future(batcher([1]))
        await asyncio.sleep(0)  # queued, and its flush scheduled
        loop = asyncio.get_running_loop()
        # Everything queued so far is older than the latency bound when the flush comes.
        real_time = loop.time
        loop.time = lambda: real_time() + 1.0  # type: ignore[method-assign]
        fresh = asyncio.ensure_future(batcher([2]))
        try:
            return await asyncio.gather(stale, fresh, return_exceptions=True)
        finally:
            loop.time = real_time  # type: ignore[method-assign]

    stale, fresh = asyncio.run(scenario())
    assert isinstance(stale, ServiceUnavailable) and stale.error_code == 503
    assert fresh == [4]
    assert model.calls == [[2]]


@pytest.mark.parametrize(("max_rows", "max_latency_s"), [(0, 1.0), (8, 0.0)])
def test_bounds_must_be_positive(max_rows: int, max_latency_s: float) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        Batcher(Model(), max_rows=max_rows, max_latency_s=max_latency_s)
