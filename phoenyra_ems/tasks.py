"""Ending background tasks for sure: ``cancel_and_wait``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any], name: str, give_up_after_s: float = 30.0) -> bool:
    """Cancel ``task`` and wait until it has ended, cancelling again each second while it runs on.

    One cancel is not always enough: Python 3.11's ``asyncio.wait_for`` drops a cancellation that
    arrives in the same loop pass as the awaited result (aiomqtt waits for the CONNACK with it; a
    daemon stop once waited forever for an MQTT connection that had come up meanwhile). Unlike
    ``await task`` under ``suppress(CancelledError)``, a cancellation meant for the caller is not
    swallowed. Returns False (and logs) when the task still runs after ``give_up_after_s``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_after_s
    while not task.done():
        if loop.time() > deadline:
            log.error("%s did not end within %.0f s of being cancelled; left running", name, give_up_after_s)
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=min(1.0, give_up_after_s))
    if not task.cancelled() and task.exception() is not None:
        log.debug("%s ended with %r", name, task.exception())
    return True
