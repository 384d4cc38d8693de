"""The daemon's live community recording: after each quarter-hour (plus a grace period for the
history to be written), the same allocation and ledger append as ``community allocate``.

It runs beside the controllers, never in their way: the work is done in a worker thread, and a
failure (a member's CSV not there yet, a locked ledger, a bad key file) is logged and retried at
the next quarter-hour; control goes on regardless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from phoenyra_ems.clock import Clock
from phoenyra_ems.community.meters import STEP_S
from phoenyra_ems.community.service import MonthRun, allocate_month, export_values, ledger_for
from phoenyra_ems.config.model import EmsConfig
from phoenyra_ems.core.community.export_value import CommunityExportValue

LOG = logging.getLogger(__name__)
GRACE_S = 120.0  # the history is written in batches: wait for the quarter-hour's last samples


def record_ended(config: EmsConfig, now: datetime, source: str = "history") -> list[MonthRun]:
    """Record every ended quarter-hour of this month (and of the previous one during a month's
    first day, for intervals whose data came late) that is not in the ledger yet."""
    return _record(config, now, source)[0]


def _record(
    config: EmsConfig, now: datetime, source: str
) -> tuple[list[MonthRun], dict[str, CommunityExportValue]]:
    """:func:`record_ended`, and then each site member's export terms from the ledger."""
    community = config.community
    if community is None:
        return [], {}
    tz = ZoneInfo(community.timezone)
    months = sorted({(now - timedelta(days=d)).astimezone(tz).strftime("%Y-%m") for d in (1, 0)})
    runs = []
    with ledger_for(community) as ledger:
        for month in months:
            runs.append(allocate_month(config, community, ledger, month, source, now=now))
        # the uptake of what the battery can add in a quarter-hour (a plan moves that much, not 10 Wh)
        steps = {sid: site.bess.power_discharge_max_kw * STEP_S / 3600 for sid, site in config.sites.items()}
        values = export_values(community, ledger, now, steps)
    return runs, values


class CommunityRecorder:
    """Records ended quarter-hours every ``period_s`` (at the boundary + ``grace_s``) while running.

    ``config`` is read at each run, so a reload that adds or removes the community takes effect.
    """

    def __init__(
        self,
        config: Callable[[], EmsConfig],
        clock: Clock,
        period_s: float = STEP_S,
        grace_s: float = GRACE_S,
        source: str = "history",
        on_values: Callable[[dict[str, CommunityExportValue]], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.period_s = period_s
        self.grace_s = grace_s
        self.source = source
        self.on_values = on_values  # gets each site member's export terms after a recording
        self.last_runs: list[MonthRun] = []
        self.failures = 0

    def delay_s(self, now: datetime) -> float:
        """Seconds until the next quarter-hour boundary plus the grace period."""
        since = (now.timestamp() - self.grace_s) % self.period_s
        return self.period_s - since

    async def run_once(self) -> list[MonthRun]:
        """One recording; errors are logged, never raised."""
        config, now = self.config(), self.clock.now()
        if config.community is None:
            if self.on_values is not None:
                self.on_values({})  # a reload removed the community: plans value export as before
            return []
        cid = config.community.community_id
        try:
            runs, values = await asyncio.to_thread(_record, config, now, self.source)
        except Exception as err:  # recording must never affect control
            self.failures += 1
            LOG.error("community %s: recording failed (retried later): %s", cid, err)
            return []
        self.last_runs = runs
        if self.on_values is not None:
            self.on_values(values)
        appended = sum(r.appended for r in runs)
        waiting = sum(r.waiting for r in runs)
        if appended:
            LOG.info("community %s: %d intervals recorded", cid, appended)
        if waiting:
            LOG.debug("community %s: %d intervals wait for data", cid, waiting)
        return runs

    async def run(self) -> None:
        """Until cancelled: record what has ended, then wait for the next quarter-hour (+ grace)."""
        while True:
            await self.run_once()
            await self.clock.sleep(self.delay_s(self.clock.now()))
