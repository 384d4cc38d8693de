"""What a VPP aggregator asks of a site, as the decision logic sees it (no protocol, no I/O).

The OpenADR 3 VEN (``phoenyra_ems.vpp``) turns events into these values; the control side
(optimiser constraints, strategy override, fleet split, offered flexibility) consumes them.
Power signs follow the rest of the code: positive = discharge / export, negative = charge / import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class VppInterval:
    """One interval of a committed schedule (times timezone-aware, ``end`` exclusive)."""

    start: datetime
    end: datetime
    setpoint_kw: float | None = None  # DISPATCH_SETPOINT: battery power the aggregator asks for
    import_limit_kw: float | None = None  # IMPORT_CAPACITY_LIMIT at the grid connection (>= 0)
    export_limit_kw: float | None = None  # EXPORT_CAPACITY_LIMIT at the grid connection (>= 0)
    price_eur_kwh: float | None = None  # PRICE signal for the interval

    def covers(self, when: datetime) -> bool:
        return self.start <= when < self.end


@dataclass(frozen=True, slots=True)
class VppSchedule:
    """A site's committed schedule from one event (intervals sorted, non-overlapping)."""

    event_id: str
    program_id: str
    intervals: tuple[VppInterval, ...] = ()
    resource: str = ""  # the VEN resource the event addressed (a site id or an aggregated resource)

    def active(self, when: datetime) -> VppInterval | None:
        return next((i for i in self.intervals if i.covers(when)), None)

    @property
    def end(self) -> datetime | None:
        return self.intervals[-1].end if self.intervals else None


@dataclass(frozen=True, slots=True)
class Flexibility:
    """What a site can deliver for ``duration_s`` from now (kW, positive = discharge)."""

    site_id: str
    max_discharge_kw: float
    max_charge_kw: float  # >= 0, the charging power available
    duration_s: float
    available_energy_kwh: float  # energy that can still be discharged above the SoC floor
    headroom_energy_kwh: float  # energy that can still be charged below the SoC ceiling


@dataclass(frozen=True, slots=True)
class VppSiteStatus:
    """Per-site VPP state published in the site's state and ``GET /api/v1/vpp``."""

    site_id: str
    event_id: str | None = None
    committed_kw: float | None = None  # what the active interval asks for (None: no setpoint)
    actual_kw: float | None = None
    deviation_kw: float | None = None  # actual - committed where a setpoint is active
    remaining_s: float | None = None
    offered: Flexibility | None = None
    notes: tuple[str, ...] = field(default=())
