"""Name what a hung test waits for: shortly before pytest-timeout fails a test, print the stack of
every pending asyncio task (pytest-timeout prints only the threads, and a hung async test's main
thread is always idle in ``selectors.poll``)."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import pytest

LEAD_S = 3.0  # report this long before the timeout fires
_TIMER = pytest.StashKey[threading.Timer]()


def _pending_tasks() -> list[asyncio.Task[Any]]:
    # asyncio keeps every task in a module-level WeakSet; copy it, the loop runs on meanwhile
    everything = getattr(asyncio.tasks, "_all_tasks", ())
    for _ in range(3):
        try:
            return [task for task in list(everything) if not task.done()]
        except RuntimeError:  # the set changed while copying
            continue
    return []


def report_pending_tasks(nodeid: str) -> None:
    tasks = _pending_tasks()
    out = sys.__stderr__ or sys.stderr
    print(f"\n=== {nodeid}: about to time out; {len(tasks)} pending asyncio task(s) ===", file=out)
    for task in tasks:
        try:
            task.print_stack(limit=12, file=out)
        except Exception as err:  # a task finishing while printed
            print(f"{task!r}: {err}", file=out)
    out.flush()


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> None:
    timeout = getattr(settings, "timeout", None)
    if not timeout or timeout <= 2 * LEAD_S:
        return
    timer = threading.Timer(timeout - LEAD_S, report_pending_tasks, args=(item.nodeid,))
    timer.daemon = True
    timer.start()
    item.stash[_TIMER] = timer


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> None:
    timer = item.stash.get(_TIMER, None)
    if timer is not None:
        timer.cancel()
        del item.stash[_TIMER]
