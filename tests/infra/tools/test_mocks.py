"""Programs under mocks bring their own event loop, so they run after `asyncio.run()` too.

`asyncio.run()` leaves its thread with no current loop, and `set_mocks` needs one at once: a
test file that serves or loads with asyncio, run before an infra test in the same worker,
used to make every later program fail with "There is no current event loop".
"""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi_aws as aws
import pytest

from infra.tools.mocks import program_event_loop
from tests.support.pulumi_unit import declare, on
from tests.support.rendering import by_type, render


@pytest.fixture
def no_current_loop() -> None:
    """The thread as `asyncio.run()` leaves it."""

    async def nothing() -> None:
        return None

    asyncio.run(nothing())
    with pytest.raises(RuntimeError, match="no current event loop"):
        asyncio.get_event_loop()


def test_one_open_loop_is_made_current_again_after_asyncio_run(no_current_loop: None) -> None:
    loop = program_event_loop()
    assert asyncio.get_event_loop() is loop
    assert loop.run_until_complete(asyncio.sleep(0, "done")) == "done"
    asyncio.set_event_loop(None)
    assert program_event_loop() is loop
    assert asyncio.get_event_loop() is loop


def test_a_closed_loop_is_replaced() -> None:
    program_event_loop().close()
    loop = program_event_loop()
    assert not loop.is_closed()
    assert asyncio.get_event_loop() is loop


def test_a_component_renders_after_asyncio_run(no_current_loop: None) -> None:
    declared = render(lambda: aws.sns.Topic("alerts"))
    assert [t.name for t in by_type(declared, "aws:sns/topic:Topic")] == ["alerts"]


def test_a_component_declares_after_asyncio_run(no_current_loop: None) -> None:
    def build(provider: aws.Provider, _account: Any) -> dict[str, Any]:
        return {"arn": aws.sns.Topic("alerts", opts=on(provider)).arn}

    assert ":sns:" in declare(build).values["arn"]
