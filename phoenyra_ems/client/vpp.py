"""Typed views of the VPP overview (``GET /api/v1/vpp``) and the site state's ``vpp`` block (docs/vpp.md).

Wire models like :mod:`phoenyra_ems.client.models` (:mod:`phoenyra_ems.client.wire` parses, dumps
and describes them): a field of the wrong type raises :class:`PhoenyraInvalidResponseError` naming
it (``sites[0].state.committed_kw: ...``); unknown extra fields are ignored. Powers in kW
(+ discharge / export, - charge / import), energies in kWh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from phoenyra_ems.client.wire import KW, KWH, Wire, spec

__all__ = [
    "ScheduleState",
    "VppAggregated",
    "VppDeviation",
    "VppFlexibility",
    "VppInterval",
    "VppOverview",
    "VppSchedule",
    "VppSite",
    "VppState",
]


@dataclass(frozen=True, slots=True)
class VppFlexibility(Wire):
    """What a site (or the aggregated resource) can deliver for ``duration_s`` from now (docs/vpp.md)."""

    PATH: ClassVar[str] = "offered"
    site_id: str
    max_discharge_kw: float = field(metadata=KW)
    max_charge_kw: float = field(metadata=KW)
    duration_s: float = field(metadata=spec(digits=1))
    available_energy_kwh: float | None = field(metadata=KWH)
    headroom_energy_kwh: float | None = field(metadata=KWH)


@dataclass(frozen=True, slots=True)
class VppState(Wire):
    """A site's VPP block: the event in progress, its committed power and the deviation from it."""

    PATH: ClassVar[str] = "vpp"
    active: bool
    event_id: str | None
    committed_kw: float | None = field(metadata=KW)  # None: no setpoint now (no event, or limits only)
    actual_kw: float | None = field(metadata=KW)  # the setpoint the site wrote
    deviation_kw: float | None = field(metadata=KW)  # actual - committed
    remaining_s: float | None = field(metadata=spec(digits=1))  # until the event's end
    offered: VppFlexibility | None
    notes: tuple[str, ...] = ()


class ScheduleState(StrEnum):
    """Whether an interval of a committed schedule covers now."""

    ACTIVE = "active"
    UPCOMING = "upcoming"


@dataclass(frozen=True, slots=True)
class VppInterval(Wire):
    PATH: ClassVar[str] = "interval"
    start: datetime
    end: datetime
    setpoint_kw: float | None = field(metadata=KW)
    import_limit_kw: float | None = field(metadata=KW)
    export_limit_kw: float | None = field(metadata=KW)
    price_eur_kwh: float | None = field(metadata=spec(digits=5))


@dataclass(frozen=True, slots=True)
class VppSchedule(Wire):
    """A committed schedule; ``state`` is ``active`` or ``upcoming``."""

    PATH: ClassVar[str] = "schedule"
    event_id: str
    program_id: str
    state: ScheduleState
    start: datetime | None  # the first interval's start
    end: datetime | None  # the last interval's end
    intervals: tuple[VppInterval, ...]
    resource: str = ""  # the VEN resource the event addressed (a site id or the aggregated resource)


@dataclass(frozen=True, slots=True)
class VppDeviation(Wire):
    """How well a site followed its committed setpoints in the latest event."""

    PATH: ClassVar[str] = "deviation"
    event_id: str
    samples: int
    last_kw: float | None = field(metadata=KW)
    mean_abs_kw: float | None = field(metadata=KW)
    max_abs_kw: float = field(metadata=KW)


@dataclass(frozen=True, slots=True)
class VppSite(Wire):
    PATH: ClassVar[str] = "site"
    site_id: str
    schedule: VppSchedule | None
    state: VppState | None  # None before the site's first cycle
    deviation: VppDeviation | None  # None before the first sample of an event
    ended: tuple[str, ...] = ()  # events that ended
    announced_at: datetime | None = None  # when the site last reported to the VTN


@dataclass(frozen=True, slots=True)
class VppAggregated(Wire):
    """The aggregated resource (all VPP sites as one): its schedule, the sites its split uses."""

    PATH: ClassVar[str] = "aggregated"
    resource: str
    schedule: VppSchedule | None
    offered: VppFlexibility | None
    members: tuple[str, ...] = field(default=(), metadata=spec(sent=True))
    rebalances: int = 0  # how often the split was recomputed


@dataclass(frozen=True, slots=True)
class VppOverview(Wire):
    """``GET /api/v1/vpp``: programs and events (as the VEN reports them), sites, aggregated resource
    (admins only)."""

    PATH: ClassVar[str] = "vpp"
    sites: tuple[VppSite, ...]
    aggregated: VppAggregated | None
    # OpenADR 3 objects, as the VTN sent them
    programs: tuple[dict[str, Any], ...] = field(default=(), metadata=spec(sent=True))
    events: tuple[dict[str, Any], ...] = field(default=(), metadata=spec(sent=True))
