"""Typed, validated views of the daemon's JSON (see docs/api.md): the wire format, described once.

Every model is a frozen dataclass; its fields are the JSON shape. The client parses responses with
``Model.from_dict`` (:mod:`phoenyra_ems.client.wire`: each field's type is checked and a mismatch
raises :class:`PhoenyraInvalidResponseError` naming the field, ``sites[1].bess.soc_min_pct: ...``);
the daemon serialises with the same models (``wire.dump``) and derives its OpenAPI schemas from them
(``wire.schema``). Unknown extra fields are ignored, so a newer daemon that adds fields still works
with this client. Field metadata (``KW``, ``PCT`` …) says to how many decimals the daemon rounds.
Powers are in kW with one sign convention: ``p_grid + p_pv + p_bess == p_load``, ``p_bess > 0``
discharges, ``p_grid > 0`` imports.

Only the standard library is used here (the client is installed into Home Assistant).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from phoenyra_ems.client.wire import (
    KW,
    KWH,
    PCT,
    PRICE,
    Wire,
    as_number,
    as_object,
    as_time,
    fail,
    missing,
    parse_union,
    spec,
    value_of,
)
from phoenyra_ems.enums import AlarmSeverity, SiteMode, SiteStatus

__all__ = [
    "AbAdvantage",
    "AggregatedState",
    "Alarm",
    "AlarmEvent",
    "AlarmSeverity",
    "Bess",
    "Control",
    "ControlAck",
    "ControlAckEvent",
    "Device",
    "EnergyCounters",
    "ErrorEvent",
    "Event",
    "Forecast",
    "ForecastFit",
    "History",
    "HistorySample",
    "Info",
    "Limits",
    "Location",
    "Mode",
    "Plan",
    "PlanEvent",
    "PlanSlack",
    "PlanStatus",
    "PlanStep",
    "ReloadResult",
    "Role",
    "SelectorStatus",
    "Sensor",
    "Site",
    "SiteDetail",
    "SiteForecast",
    "SitePlan",
    "SiteState",
    "SiteStatus",
    "StateEvent",
    "SubscribedEvent",
    "UnsubscribedEvent",
    "parse_event",
]

Mode = SiteMode  # how a site's setpoint is decided (the daemon's own enum, shared)


class PlanStatus(StrEnum):
    """How a plan was solved."""

    OPTIMAL = "optimal"
    SLACK = "slack"  # a limit could not be kept (e.g. SoC below its minimum): penalised slack, alarm
    FAILED = "failed"  # no plan (solver failure or bad input): the site self-consumes instead


class Role(StrEnum):
    """Roles of API users, ordered ``viewer < operator < admin``."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


# --- REST models ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Info(Wire):
    """``GET /info``: this installation and who the token belongs to."""

    PATH: ClassVar[str] = "info"
    instance_id: str  # stable per installation (Home Assistant's unique id)
    version: str
    user: str
    role: Role
    site_count: int  # sites this user may see


@dataclass(frozen=True, slots=True)
class Location(Wire):
    PATH: ClassVar[str] = "location"
    city: str
    latitude: float | None
    longitude: float | None
    timezone: str  # IANA name


@dataclass(frozen=True, slots=True)
class Bess(Wire):
    """The configured (hardware) battery of a site."""

    PATH: ClassVar[str] = "bess"
    energy_capacity_kwh: float
    power_charge_max_kw: float
    power_discharge_max_kw: float
    soc_min_pct: float
    soc_max_pct: float


@dataclass(frozen=True, slots=True)
class Device(Wire):
    """The site's Modbus device: register-map profile and address."""

    PATH: ClassVar[str] = "device"
    profile: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Site(Wire):
    """One configured site (``GET /sites`` lists these)."""

    PATH: ClassVar[str] = "site"
    id: str
    name: str
    status: SiteStatus
    location: Location
    bess: Bess
    device: Device
    strategies: tuple[str, ...]  # strategies this site may use (names for ``set_control``)

    def setpoint_range(self, limits: Limits | None) -> tuple[float, float]:
        """The manual setpoint range (kW) the daemon accepts, as it publishes it in ``limits``; the
        hardware range while the site's controller is not running (no limits) or from a daemon that
        does not publish it."""
        if limits is None or limits.setpoint_min_kw is None or limits.setpoint_max_kw is None:
            return -self.bess.power_charge_max_kw + 0.0, self.bess.power_discharge_max_kw
        return limits.setpoint_min_kw, limits.setpoint_max_kw


@dataclass(frozen=True, slots=True)
class Alarm(Wire):
    """An active condition an operator should see."""

    PATH: ClassVar[str] = "alarm"
    code: str
    message: str
    severity: AlarmSeverity
    since: datetime | None


@dataclass(frozen=True, slots=True)
class Sensor(Wire):
    """An edge sensor discovered on MQTT (ESPHome, Tasmota, Phoenyra's own format)."""

    PATH: ClassVar[str] = "sensor"
    id: str
    name: str
    value: float | None
    unit: str | None
    age_s: float | None = field(metadata=spec(digits=3))  # since its last reading was measured
    available: bool  # not reported offline
    site: str | None  # None: discovered, not assigned to a site
    role: str | None
    format: str  # discovery format: ha, tasmota, phoenyra
    device: str | None = None
    device_name: str | None = None
    device_class: str | None = None
    availability: str | None = None  # online | offline | unknown
    fresh: bool | None = None  # available, has a value, no error, not older than its expiry
    weight: float | None = None
    state_topic: str | None = None
    error: str | None = None  # e.g. an unsupported value template: the sensor never gets a value


@dataclass(frozen=True, slots=True)
class ForecastFit(Wire):
    """When the site's forecaster was last fitted, on how many rows, in how long."""

    fitted_at: datetime
    rows: int
    fit_s: float = field(metadata=spec(digits=3))


_FORECAST_KW = spec(digits=4)


@dataclass(frozen=True, slots=True)
class Forecast(Wire):
    """A site's latest load (and PV) forecast: one value per step from ``start``."""

    PATH: ClassVar[str] = "forecast"
    made_at: datetime
    start: datetime
    step_s: int
    load_kw: tuple[float, ...] = field(metadata=_FORECAST_KW)
    pv_kw: tuple[float, ...] | None = field(metadata=_FORECAST_KW)
    pv_source: str | None  # "weather" | "clear-sky fallback"
    predict_ms: float | None = field(default=None, metadata=spec(digits=2))
    members: dict[str, tuple[float, ...]] = field(
        default_factory=dict
    )  # an ensemble's members' load forecasts


@dataclass(frozen=True, slots=True)
class SiteForecast(Wire):
    """``GET /sites/{id}/forecast``: whether the site forecasts, and its latest forecast if any."""

    PATH: ClassVar[str] = "forecast"
    site_id: str
    enabled: bool
    forecast: Forecast | None
    last_error: str | None
    last_fit: ForecastFit | None = None


@dataclass(frozen=True, slots=True)
class PlanStep(Wire):
    """One step of a plan; ``soc_pct`` is the planned SoC at the END of the step."""

    PATH: ClassVar[str] = "step"
    start: datetime
    battery_kw: float  # + discharge / - charge
    grid_kw: float  # + import / - export
    soc_pct: float
    price_eur_mwh: float  # purchase price
    pv_kw: float  # forecast
    load_kw: float  # forecast


@dataclass(frozen=True, slots=True)
class PlanSlack(Wire):
    """How far the plan had to leave a limit (0 when ``status`` is optimal)."""

    PATH: ClassVar[str] = "slack"
    soc_kwh: float
    export_kw: float
    import_kw: float


@dataclass(frozen=True, slots=True)
class Plan(Wire):
    """The optimiser's plan: one step per ``step_s`` from ``start`` (docs/optimiser.md)."""

    PATH: ClassVar[str] = "plan"
    start: datetime
    step_s: float = field(metadata=spec(positive=True))
    status: PlanStatus
    message: str
    solve_ms: float
    source: str  # where the forecasts came from ("history baselines", ...)
    slack: PlanSlack
    steps: tuple[PlanStep, ...]
    reason: str | None = None  # what the plan does now, in words (None from daemons that do not say)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.step_s * len(self.steps))

    def step_at(self, when: datetime) -> PlanStep | None:
        """The step covering ``when`` (aware), ``None`` outside the plan."""
        k = math.floor((when - self.start).total_seconds() / self.step_s)
        return self.steps[k] if 0 <= k < len(self.steps) else None

    def soc_at(self, when: datetime) -> float | None:
        """The planned SoC at ``when`` (aware): exact at step ends, linear within a step (from the
        previous step's end; the first step has no start SoC and gives its end SoC); ``None``
        outside ``(start, end]``."""
        offset = (when - self.start).total_seconds() / self.step_s
        if not self.steps or offset <= 0 or offset > len(self.steps):
            return None
        k = math.ceil(offset) - 1
        after = self.steps[k].soc_pct
        if k == 0:
            return after
        before = self.steps[k - 1].soc_pct
        return before + (after - before) * (offset - k)


@dataclass(frozen=True, slots=True)
class SitePlan(Wire):
    """``GET /sites/{id}/plan``: whether the site plans (``optimiser`` among its strategies), and
    its current plan (``None`` until the first one)."""

    PATH: ClassVar[str] = "plan"
    site_id: str
    enabled: bool
    plan: Plan | None = field(metadata=spec(present=True))


@dataclass(frozen=True, slots=True)
class EnergyCounters(Wire):
    """A site's energy counters (kWh since ``since``), kept by the daemon across restarts; every
    counter only grows."""

    PATH: ClassVar[str] = "energy"
    charged_kwh: float = field(metadata=KWH)
    discharged_kwh: float = field(metadata=KWH)
    imported_kwh: float = field(metadata=KWH)
    exported_kwh: float = field(metadata=KWH)
    since: datetime | None


@dataclass(frozen=True, slots=True)
class AbAdvantage(Wire):
    """The A/B test's value: the AI days' mean minus the score days' mean, EUR per day, with its
    95 % bootstrap interval (None while an arm has no whole day), valued by counterfactual replay."""

    PATH: ClassVar[str] = "advantage"
    ai_days: int
    score_days: int
    eur_per_day: float | None
    ci_low_eur: float | None = None
    ci_high_eur: float | None = None
    paired_eur_per_day: float | None = None
    valued_at: datetime | None = None


def _current(name: str) -> dict[str, Any]:
    return spec(at=("current", name))


def _ab(name: str) -> dict[str, Any]:
    return spec(at=("ab_test", name))


@dataclass(frozen=True, slots=True)
class SelectorStatus(Wire):
    """``GET /sites/{id}/selector``: who chooses the strategy (score / AI / pinned) and the A/B tally.

    The current choice (``current.*`` on the wire) and the A/B test (``ab_test.*``) are flattened."""

    PATH: ClassVar[str] = "selector"
    site_id: str
    mode: str  # auto | score | ai | fixed
    ai_enabled: bool
    trained: bool
    trained_at: datetime | None
    samples: int
    strategy: str | None = field(metadata=_current("strategy"))  # None: the score-based selection
    source: str | None = field(metadata=_current("source"))  # ai | score | fixed; None before deciding
    confidence: float | None = field(metadata=_current("confidence"))
    feature_importances: dict[str, float] = field(default_factory=dict)
    ab_tally: dict[str, dict[str, float]] = field(default_factory=dict, metadata=_ab("tally"))
    ab_enabled: bool = field(default=False, metadata=_ab("enabled"))
    ab_advantage: AbAdvantage | None = field(default=None, metadata=_ab("advantage"))  # until valued
    label_counts: dict[str, int] = field(default_factory=dict)
    reason: str | None = field(default=None, metadata=_current("reason"))
    arm: str | None = field(default=None, metadata=_current("arm"))
    window_start: datetime | None = field(default=None, metadata=_current("window_start"))
    last_error: str | None = None


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


@dataclass(frozen=True, slots=True)
class SiteState(Wire):
    """A site's live state (one control cycle)."""

    PATH: ClassVar[str] = "state"
    site_id: str
    timestamp: datetime
    soc: float = field(metadata=PCT)  # %
    soh: float = field(metadata=PCT)  # %
    temp_c: float | None = field(metadata=PCT)
    p_bess: float = field(metadata=KW)  # kW, + discharge / - charge
    p_pv: float = field(metadata=KW)  # kW, >= 0
    p_load: float = field(metadata=KW)  # kW, >= 0
    p_grid: float = field(metadata=KW)  # kW, + import / - export
    price: float | None = field(metadata=PRICE)  # EUR/MWh, day-ahead price of the current interval
    setpoint: float = field(metadata=KW)  # kW, the setpoint last written (sign of p_bess)
    strategy: str | None
    strategy_reason: str
    mode: SiteMode
    status: SiteStatus
    alarms: tuple[Alarm, ...]
    last_reading: datetime | None
    last_write: datetime | None
    energy: EnergyCounters | None = None  # None from a daemon without counters (or not yet known)
    inputs: dict[str, float] = field(default_factory=dict, metadata=KW)  # edge-sensor inputs
    vpp: VppState | None = None  # the VPP block (docs/vpp.md); None from older daemons / before a cycle


@dataclass(frozen=True, slots=True)
class Control(Wire):
    """What the operator asked for: mode, pinned strategy, manual setpoint and when it expires."""

    PATH: ClassVar[str] = "control"
    mode: SiteMode
    strategy: str | None  # None: score-based selection
    setpoint_kw: float | None  # manual mode only
    expires: datetime | None  # manual mode only


@dataclass(frozen=True, slots=True)
class Limits(Wire):
    """Operator limits (``None``: not set) inside the configured hardware limits."""

    PATH: ClassVar[str] = "limits"
    soc_min_pct: float
    soc_max_pct: float
    soc_reserve_pct: float | None
    power_charge_max_kw: float | None
    power_discharge_max_kw: float | None
    hardware_power_charge_max_kw: float
    hardware_power_discharge_max_kw: float
    # In force (hardware tightened by the operator's limits), as the daemon enforces them: a manual
    # setpoint must lie in [setpoint_min_kw, setpoint_max_kw]. None from daemons that do not say.
    setpoint_min_kw: float | None = None  # - the charge limit
    setpoint_max_kw: float | None = None  # the discharge limit
    effective_soc_min_pct: float | None = None  # the SoC floor: the minimum raised by the reserve


@dataclass(frozen=True, slots=True)
class SiteDetail(Wire):
    """``GET /sites/{id}``: the site, its state, and (when its controller runs) control and limits."""

    PATH: ClassVar[str] = "site"
    site: Site = field(metadata=spec(flatten=True))  # the site's own keys sit in this object
    state: SiteState
    control: Control | None = None  # None (absent) while the site's controller is not running
    limits: Limits | None = None

    def setpoint_range(self) -> tuple[float, float]:
        """The manual setpoint range the daemon accepts now (see :meth:`Site.setpoint_range`)."""
        return self.site.setpoint_range(self.limits)


@dataclass(frozen=True, slots=True)
class ControlAck(Wire):
    """The answer to ``set_control``: the control as the daemon will apply it."""

    PATH: ClassVar[str] = "ack"
    site_id: str
    accepted: bool
    control: Control


@dataclass(frozen=True, slots=True)
class AggregatedState(Wire):
    """``GET /sites/aggregated`` (admins): sums over all sites with a reading."""

    PATH: ClassVar[str] = "aggregated"
    site_count: int
    total_capacity_kwh: float
    soc_avg_pct: float | None = field(metadata=PCT)  # capacity-weighted; None when no site has a reading
    p_bess: float = field(metadata=KW)
    p_pv: float = field(metadata=KW)
    p_load: float = field(metadata=KW)
    p_grid: float = field(metadata=KW)
    sites: tuple[SiteState, ...]


@dataclass(frozen=True, slots=True)
class HistorySample(Wire):
    """One recorded cycle, or the average over one ``step`` bucket (strategy/mode/status: the max)."""

    PATH: ClassVar[str] = "sample"
    timestamp: datetime
    soc: float = field(metadata=PCT)
    soh: float = field(metadata=PCT)
    temp_c: float | None = field(metadata=PCT)
    p_bess: float = field(metadata=KW)
    p_pv: float = field(metadata=KW)
    p_load: float = field(metadata=KW)
    p_grid: float = field(metadata=KW)
    price: float | None = field(metadata=PRICE)
    setpoint: float = field(metadata=KW)
    strategy: str | None
    mode: SiteMode
    status: SiteStatus


@dataclass(frozen=True, slots=True)
class History(Wire):
    """``GET /sites/{id}/history``: samples with ``start <= timestamp < end``."""

    PATH: ClassVar[str] = "history"
    site_id: str
    start: datetime = field(metadata=spec(key="from"))
    end: datetime = field(metadata=spec(key="to"))
    step_s: float | None = field(metadata=spec(key="step"))  # bucket width; None: every recorded cycle
    samples: tuple[HistorySample, ...]


@dataclass(frozen=True, slots=True)
class ReloadResult(Wire):
    """``POST /reload`` (admins): what changed, or why the configuration file was refused."""

    PATH: ClassVar[str] = "reload"
    reloaded: bool
    errors: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    reloaded_sites: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()


# --- WebSocket events -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SubscribedEvent(Wire):
    """The sites this connection is subscribed to now (after a subscribe)."""

    sites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnsubscribedEvent(Wire):
    """The sites just unsubscribed."""

    sites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StateEvent(Wire):
    """A site's latest state (pushes are coalesced: at most ``api.ws_max_rate_hz`` per site)."""

    site_id: str
    state: SiteState = field(metadata=spec(key="data"))


@dataclass(frozen=True, slots=True)
class AlarmEvent(Wire):
    """An alarm was raised (``active``) or cleared."""

    site_id: str
    alarm: Alarm
    active: bool


@dataclass(frozen=True, slots=True)
class ControlAckEvent(Wire):
    """Someone's control request for a subscribed site was accepted."""

    site_id: str
    control: Control
    by: str  # the user who sent it


@dataclass(frozen=True, slots=True)
class PlanEvent(Wire):
    """The site's optimiser made a new plan (the same shape as ``GET /sites/{id}/plan``)."""

    site_id: str
    plan: SitePlan = field(metadata=spec(key="data"))


@dataclass(frozen=True, slots=True)
class ErrorEvent(Wire):
    """The server refused a message of ours (the connection stays open)."""

    code: str  # invalid_message, not_found, forbidden
    message: str


Event = (
    SubscribedEvent | UnsubscribedEvent | StateEvent | AlarmEvent | ControlAckEvent | PlanEvent | ErrorEvent
)
EVENTS: dict[str, type[Event]] = {
    "state": StateEvent,
    "alarm": AlarmEvent,
    "control_ack": ControlAckEvent,
    "plan": PlanEvent,
    "subscribed": SubscribedEvent,
    "unsubscribed": UnsubscribedEvent,
    "error": ErrorEvent,
}


def parse_event(data: Any) -> Event | None:
    """A decoded WebSocket frame → its event; ``None`` for an unknown type (forward compatible).

    Raises :class:`PhoenyraInvalidResponseError` for a known type with a wrong shape.
    """
    return parse_union(EVENTS, data, "event")


# --- readers for hand-written parsers (prefer a dataclass: it needs none of these) -------------------
_T = TypeVar("_T")
_fail = fail
_object = as_object
_number = as_number
_parse_time = as_time


def _field(data: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in data:
        raise missing(f"{path}.{key}")
    return data[key]


def _read(tp: Any, data: Mapping[str, Any], key: str, path: str) -> Any:
    return value_of(tp, _field(data, key, path), f"{path}.{key}")


def _opt(tp: Any, data: Mapping[str, Any], key: str, path: str) -> Any:
    return None if data.get(key) is None else _read(tp, data, key, path)


def _str(data: Mapping[str, Any], key: str, path: str) -> str:
    return str(_read(str, data, key, path))


def _opt_str(data: Mapping[str, Any], key: str, path: str) -> str | None:
    return _opt(str, data, key, path)  # type: ignore[no-any-return]


def _num(data: Mapping[str, Any], key: str, path: str) -> float:
    return float(_read(float, data, key, path))


def _opt_num(data: Mapping[str, Any], key: str, path: str) -> float | None:
    return _opt(float, data, key, path)  # type: ignore[no-any-return]


def _int(data: Mapping[str, Any], key: str, path: str) -> int:
    return int(_read(int, data, key, path))


def _bool(data: Mapping[str, Any], key: str, path: str) -> bool:
    return bool(_read(bool, data, key, path))


def _time(data: Mapping[str, Any], key: str, path: str) -> datetime:
    return _read(datetime, data, key, path)  # type: ignore[no-any-return]


def _opt_time(data: Mapping[str, Any], key: str, path: str) -> datetime | None:
    return _opt(datetime, data, key, path)  # type: ignore[no-any-return]


def _list(data: Mapping[str, Any], key: str, path: str, item: Callable[[Any, str], _T]) -> tuple[_T, ...]:
    value = _field(data, key, path)
    if not isinstance(value, list):
        raise fail(f"{path}.{key}", "a list", value)
    return tuple(item(element, f"{path}.{key}[{i}]") for i, element in enumerate(value))


def _string_item(value: Any, path: str) -> str:
    return str(value_of(str, value, path))
