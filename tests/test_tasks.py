"""cancel_and_wait: a stop ends its task even when one cancel is swallowed, and never eats the caller's."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from phoenyra_ems.tasks import cancel_and_wait


async def swallows_cancels(count: int, released: asyncio.Event) -> None:
    """Swallow the first ``count`` cancels (and all of them until ``released``), then end cancelled."""
    swallowed = 0
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed += 1
            if swallowed > count or released.is_set():
                raise


async def test_a_task_that_swallows_a_cancel_still_ends() -> None:
    task = asyncio.create_task(swallows_cancels(1, asyncio.Event()))
    await asyncio.sleep(0)
    assert await cancel_and_wait(task, "test task", give_up_after_s=10)
    assert task.cancelled()


async def test_a_task_that_never_ends_is_given_up_with_an_error(caplog: pytest.LogCaptureFixture) -> None:
    released = asyncio.Event()
    task = asyncio.create_task(swallows_cancels(10**6, released))
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR):
        assert not await cancel_and_wait(task, "stubborn task", give_up_after_s=0.5)
    assert "stubborn task did not end" in caplog.text and not task.done()
    released.set()
    assert await cancel_and_wait(task, "released task", give_up_after_s=5)


async def test_the_callers_cancel_is_not_swallowed() -> None:
    released = asyncio.Event()
    inner = asyncio.create_task(swallows_cancels(10**6, released))
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait(inner, "inner", give_up_after_s=60))
    await asyncio.sleep(0.05)
    stopper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stopper
    assert stopper.cancelled(), "a stop that is itself cancelled must end cancelled, not carry on"
    released.set()
    assert await cancel_and_wait(inner, "released task", give_up_after_s=5)
