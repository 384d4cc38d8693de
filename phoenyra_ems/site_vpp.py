"""One site's VPP side: its committed schedule, expiry, deviation and offered flexibility.

The controller owns one :class:`SiteVpp`. The VEN (``phoenyra_ems.vpp``) hands schedules in through
the fleet (``Fleet.apply_schedule``); each cycle the controller asks :meth:`SiteVpp.schedule_at` for
the schedule in force (an ended schedule is dropped here: the site returns to its own
optimisation), passes it to the decision, and records the result with :meth:`SiteVpp.observe`.
Decision logic lives in ``core/vpp_control.py`` and ``core/vpp_flex.py``; this holds state only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from phoenyra_ems.core.limits import SiteLimits
from phoenyra_ems.core.vpp import Flexibility, VppSchedule, VppSiteStatus
from phoenyra_ems.core.vpp_control import Deviation, committed, expired, site_status
from phoenyra_ems.core.vpp_flex import materially_changed, offered_flexibility
from phoenyra_ems.models import SiteMode

LOG = logging.getLogger(__name__)

OFFER_DURATION_S = 3600.0  # the duration offered each cycle until the VEN asks for another one


@dataclass
class SiteVpp:
    site_id: str
    schedule: VppSchedule | None = None
    deviation: Deviation = field(default_factory=Deviation)
    offered: Flexibility | None = None  # this cycle's offer
    announced: Flexibility | None = None  # the last offer that changed materially
    announced_at: datetime | None = None
    offer_duration_s: float = OFFER_DURATION_S
    status: VppSiteStatus | None = None
    ended: tuple[str, ...] = ()  # event ids that ran to their end (latest last, at most 20)

    def apply(self, schedule: VppSchedule | None) -> None:
        """Commit to ``schedule`` from now on (None: withdraw; the site returns to its own plan)."""
        old = self.schedule
        if schedule is not None and not schedule.intervals:
            schedule = None
        self.schedule = schedule
        if schedule is None:
            if old is not None:
                LOG.info("site %s: VPP event %s withdrawn", self.site_id, old.event_id)
        elif old is None or old.event_id != schedule.event_id:
            LOG.info(
                "site %s: VPP event %s committed (%d intervals until %s)",
                self.site_id, schedule.event_id, len(schedule.intervals), schedule.end,
            )  # fmt: skip

    def schedule_at(self, now: datetime) -> VppSchedule | None:
        """The schedule in force at ``now``; an ended one is dropped (logged once)."""
        if self.schedule is not None and expired(self.schedule, now):
            LOG.info(
                "site %s: VPP event %s ended, own optimisation again", self.site_id, self.schedule.event_id
            )
            self.ended = (*self.ended[-19:], self.schedule.event_id)
            self.schedule = None
        return self.schedule

    def flexibility(
        self,
        limits: SiteLimits,
        soc_pct: float,
        duration_s: float,
        *,
        soh_pct: float,
        derate: float,
        net_load_kw: tuple[float, ...],
    ) -> Flexibility:
        return offered_flexibility(
            self.site_id, limits, soc_pct, duration_s, soh_pct=soh_pct, derate=derate, net_load_kw=net_load_kw
        )

    def observe(
        self,
        now: datetime,
        setpoint_kw: float,
        mode: SiteMode,
        clamped_by: tuple[str, ...],
        offered: Flexibility | None,
    ) -> VppSiteStatus:
        """The site's VPP status after this cycle wrote ``setpoint_kw`` (the deviation's "actual")."""
        self.offered = offered
        if offered is not None and materially_changed(self.announced, offered):
            self.announced, self.announced_at = offered, now
        interval = committed(self.schedule, now)
        notes: list[str] = []
        if interval is not None and interval.setpoint_kw is not None:
            self.deviation = self.deviation.add(
                self.schedule.event_id if self.schedule else "", interval.setpoint_kw, setpoint_kw
            )
            if mode is not SiteMode.AUTO:
                notes.append(f"operator {mode} mode overrides the schedule")
            elif abs(setpoint_kw - interval.setpoint_kw) > 1e-6:
                notes.append(f"limited by {', '.join(clamped_by) or 'safety'}")
        self.status = site_status(
            self.site_id, self.schedule, now, setpoint_kw, offered=offered, notes=tuple(notes)
        )
        return self.status
