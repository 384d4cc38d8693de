"""The console's state: what the daemon told us, kept in one place, with a version counter.

Every change bumps :attr:`ConsoleStore.version`; the UI redraws when the version moved (at most a
few times per second, see :mod:`tui.core.coalesce`), so a burst of WebSocket pushes costs one
redraw. Nothing here talks to the network or draws anything.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

from phoenyra_ems.client import (
    AggregatedState,
    Alarm,
    Control,
    HistorySample,
    Info,
    Role,
    SelectorStatus,
    Sensor,
    Site,
    SiteDetail,
    SitePlan,
    SiteState,
)
from tui.core.format import age, kw, local_time, site_zone

CHART_WINDOW = timedelta(hours=1)
CHART_MIN_STEP_S = 5.0  # live points closer than this to the previous one are not kept
EVENT_LOG_SIZE = 50


class Phase(StrEnum):
    CONNECTING = "connecting"  # first attempt, nothing known yet
    CONNECTED = "connected"  # REST answered and the WebSocket is subscribed
    LOST = "lost"  # the daemon cannot be reached; retrying
    AUTH_FAILED = "auth_failed"  # the token was refused (401)


@dataclass(frozen=True, slots=True)
class Connection:
    phase: Phase
    url: str
    message: str = ""
    attempt: int = 0
    retry_in_s: float | None = None


@dataclass(frozen=True, slots=True)
class ChartPoint:
    timestamp: datetime
    p_bess: float
    p_pv: float
    p_load: float
    p_grid: float
    soc: float


@dataclass(frozen=True, slots=True)
class LogLine:
    """One event of the fleet log, with the console's local time when it arrived."""

    at: datetime
    text: str

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.text}"


def local_now() -> datetime:
    return datetime.now().astimezone()


@dataclass(frozen=True, slots=True)
class ControlOutcome:
    ok: bool | None  # None: pending (sent, no answer yet)
    text: str


def _point(s: SiteState | HistorySample) -> ChartPoint:
    return ChartPoint(s.timestamp, s.p_bess, s.p_pv, s.p_load, s.p_grid, s.soc)


class ConsoleStore:
    """The single source of what the UI shows."""

    def __init__(
        self,
        url: str = "",
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], datetime] = local_now,
    ) -> None:
        self.monotonic = monotonic
        self.wallclock = wallclock
        self.version = 0
        self.connection = Connection(Phase.CONNECTING, url)
        self.info: Info | None = None
        self.sites: dict[str, Site] = {}
        self.details: dict[str, SiteDetail] = {}
        self.states: dict[str, SiteState] = {}
        self.received_at: dict[str, float] = {}  # site -> monotonic time of its last state
        self.aggregated: AggregatedState | None = None
        self.series: dict[str, deque[ChartPoint]] = {}
        self.events: deque[LogLine] = deque(maxlen=EVENT_LOG_SIZE)
        self.control_results: dict[str, ControlOutcome] = {}
        self.plans: dict[str, SitePlan] = {}  # site -> its latest plan (GET /plan, then plan events)
        self.selectors: dict[str, SelectorStatus] = {}  # site -> who chooses its strategy (GET /selector)
        self.current_site: str | None = None
        self.first_data_at: float | None = None

    # --- derived ------------------------------------------------------------------------------
    @property
    def role(self) -> Role | None:
        return None if self.info is None else self.info.role

    @property
    def can_control(self) -> bool:
        return self.role in (Role.OPERATOR, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def site_ids(self) -> list[str]:
        return list(self.sites)

    def site_by_number(self, number: int) -> str | None:
        ids = self.site_ids
        return ids[number - 1] if 1 <= number <= len(ids) else None

    def site_name(self, site_id: str | None) -> str:
        if site_id is None:
            return "-"
        site = self.sites.get(site_id)
        return site.name if site is not None else site_id

    def site_zone(self, site_id: str | None) -> tzinfo:
        """The site's time zone (expiry times and days are shown in it)."""
        site = self.sites.get(site_id) if site_id is not None else None
        return site_zone(site.location.timezone) if site is not None else UTC

    def state_age_s(self, site_id: str) -> float | None:
        received = self.received_at.get(site_id)
        return None if received is None else max(0.0, self.monotonic() - received)

    # --- updates ------------------------------------------------------------------------------
    def touch(self) -> None:
        self.version += 1

    def set_connection(self, connection: Connection) -> None:
        if connection != self.connection:
            self.connection = connection
            self.touch()

    def set_info(self, info: Info) -> None:
        self.info = info
        self.touch()

    def set_sites(self, sites: Iterable[Site]) -> None:
        self.sites = {site.id: site for site in sites}
        for mapping in (
            self.details,
            self.states,
            self.received_at,
            self.series,
            self.control_results,
            self.plans,
            self.selectors,
        ):
            for gone in [k for k in mapping if k not in self.sites]:
                del mapping[gone]
        if self.current_site not in self.sites:
            self.current_site = next(iter(self.sites), None)
        self.touch()

    def set_detail(self, detail: SiteDetail) -> None:
        site_id = detail.site.id
        self.details[site_id] = detail
        if site_id in self.sites or not self.sites:
            self.sites[site_id] = detail.site
        self.set_state(detail.state)

    def set_state(self, state: SiteState) -> None:
        site_id = state.site_id
        self.states[site_id] = state
        self.received_at[site_id] = self.monotonic()
        if self.first_data_at is None:
            self.first_data_at = self.monotonic()
        site = self.sites.get(site_id)
        if site is not None and site.status != state.status:
            self.sites[site_id] = replace(site, status=state.status)
        self._append_point(site_id, _point(state))
        self.touch()

    def set_plan(self, plan: SitePlan) -> None:
        self.plans[plan.site_id] = plan
        self.touch()

    def set_selector(self, status: SelectorStatus) -> None:
        if self.selectors.get(status.site_id) != status:
            self.selectors[status.site_id] = status
            self.touch()

    def set_aggregated(self, aggregated: AggregatedState | None) -> None:
        self.aggregated = aggregated
        self.touch()

    def set_alarm(self, site_id: str, alarm: Alarm, active: bool) -> None:
        word = "raised" if active else "cleared"
        self.log(f"{self.site_name(site_id)}: alarm {alarm.code} {word} ({alarm.severity}): {alarm.message}")
        state = self.states.get(site_id)
        if state is not None:
            others = tuple(a for a in state.alarms if a.code != alarm.code)
            self.states[site_id] = replace(state, alarms=(*others, alarm) if active else others)
        self.touch()

    def set_control(self, site_id: str, control: Control, by: str | None = None) -> None:
        detail = self.details.get(site_id)
        if detail is not None:
            self.details[site_id] = replace(detail, control=control)
        if by is not None:
            described = describe_control(control, self.site_zone(site_id))
            self.log(f"{self.site_name(site_id)}: control {described} by {by}")
        self.touch()

    def set_control_result(self, site_id: str, outcome: ControlOutcome) -> None:
        self.control_results[site_id] = outcome
        self.touch()

    def select_site(self, site_id: str) -> bool:
        if site_id not in self.sites or site_id == self.current_site:
            return False
        self.current_site = site_id
        self.touch()
        return True

    def log(self, line: str) -> None:
        self.events.append(LogLine(self.wallclock(), line))
        self.touch()

    def merge_history(self, site_id: str, samples: Iterable[HistorySample]) -> None:
        """Prefill the last-hour charts with recorded samples (live points are kept)."""
        points = {p.timestamp: p for p in self.series.get(site_id, ())}
        for sample in samples:
            points.setdefault(sample.timestamp, _point(sample))
        series: deque[ChartPoint] = deque(sorted(points.values(), key=lambda p: p.timestamp))
        self.series[site_id] = series
        self._trim(series)
        self.touch()

    def _append_point(self, site_id: str, point: ChartPoint) -> None:
        series = self.series.setdefault(site_id, deque())
        if series and (point.timestamp - series[-1].timestamp).total_seconds() < CHART_MIN_STEP_S:
            if point.timestamp < series[-1].timestamp:  # the daemon's clock went back: start over
                series.clear()
            else:
                return
        series.append(point)
        self._trim(series)

    @staticmethod
    def _trim(series: deque[ChartPoint]) -> None:
        if not series:
            return
        oldest = series[-1].timestamp - CHART_WINDOW
        while series and series[0].timestamp < oldest:
            series.popleft()


def describe_control(control: Control, zone: tzinfo = UTC) -> str:
    """``manual, -30.0 kW, until 12:45:00 CEST, strategy auto-select`` (times in ``zone``, the site's)."""
    parts = [str(control.mode)]
    if control.setpoint_kw is not None:
        parts.append(f"{kw(control.setpoint_kw)} kW")
    if control.expires is not None:
        parts.append(f"until {local_time(control.expires, zone)}")
    parts.append(f"strategy {control.strategy or 'auto-select'}")
    return ", ".join(parts)


SENSOR_COLUMNS = ("Sensor", "Role", "Value", "Unit", "Format", "Last seen")


def sensor_row(sensor: Sensor) -> tuple[str, str, str, str, str, str]:
    """One sensor of ``client.sensors(site_id)`` → the cells of :data:`SENSOR_COLUMNS`: the role it
    has at the site (``battery_room_temperature`` …), its discovery format (``ha``, ``tasmota``,
    ``phoenyra``) and how long ago its last reading was measured."""
    if not sensor.available:
        seen = "offline"
    elif sensor.age_s is None:
        seen = "no reading yet"
    else:
        seen = f"{age(sensor.age_s)} ago"
    return (
        sensor.name or sensor.id,
        sensor.role or "-",
        "-" if sensor.value is None else f"{sensor.value:g}",
        sensor.unit or "-",
        sensor.format or "-",
        seen,
    )
