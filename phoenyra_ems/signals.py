"""Run a command's main coroutine until it ends or SIGINT/SIGTERM arrives (``run``, ``demo``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Coroutine
from typing import Any

EXIT_GRACE_S = 2.0  # after shutdown, worker threads get this long before the process exits anyway


def run_until_signal(coro: Coroutine[Any, Any, Any]) -> int:
    """Run ``coro`` until it ends or SIGINT/SIGTERM arrives (then cancel it: graceful shutdown).

    The shutdown itself is bounded (every site's stop is); a worker thread that still hangs after
    it (a database on a dead disk) does not keep the process alive: it exits after EXIT_GRACE_S.
    """

    async def runner() -> None:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(runner())
    exit_if_threads_hang(EXIT_GRACE_S)
    return 0


def exit_if_threads_hang(grace_s: float) -> None:
    """Give non-daemon threads ``grace_s`` to finish; exit the process anyway if one still runs."""
    deadline = time.monotonic() + grace_s
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    hanging = [t.name for t in threading.enumerate() if t.is_alive() and not t.daemon]
    hanging = [name for name in hanging if name != threading.current_thread().name]
    if hanging:
        logging.getLogger(__name__).error("exiting with threads still busy: %s", ", ".join(hanging))
        logging.shutdown()
        os._exit(0)
