"""Typed, validated views of the daemon's JSON (see docs/api.md).

Every model is a frozen dataclass built by ``from_dict``, which checks each field's type and raises
:class:`PhoenyraInvalidResponseError` naming the field (``sites[1].bess.soc_min_pct: ...``) when
the server sent something else. Unknown extra fields are ignored, so a newer daemon that adds
fields still works with this client. Powers are in kW with one sign convention:
``p_grid + p_pv + p_bess == p_load``, ``p_bess > 0`` discharges, ``p_grid > 0`` imports.

Only the standard library is used here (the client is installed into Home Assistant).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self, TypeVar

from phoenyra_ems.client.exceptions import PhoenyraInvalidResponseError

__all__ = [
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
    "Site",
    "SiteDetail",
    "SitePlan",
    "SiteState",
    "SiteStatus",
    "StateEvent",
    "SubscribedEvent",
    "UnsubscribedEvent",
    "parse_event",
]

if TYPE_CHECKING:
    from phoenyra_ems.client.vpp import VppState


class Mode(StrEnum):
    """How a site's setpoint is decided."""

    AUTO = "auto"  # the strategies decide
    MANUAL = "manual"  # an operator setpoint, with an expiry
    STANDBY = "standby"  # 0 kW (grid limits still apply)


class SiteStatus(StrEnum):
    """Health of a site's controller."""

    STARTING = "starting"
    RUNNING = "running"
    SAFE = "safe"  # the device does not answer: setpoint forced to 0 kW, reconnecting
    FAILED = "failed"  # the controller could not start or died; retried by the daemon
    STOPPED = "stopped"


class AlarmSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


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


# --- field readers: type checks with the JSON path in every error ----------------------------------
_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")


def _fail(path: str, expected: str, value: Any) -> PhoenyraInvalidResponseError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return PhoenyraInvalidResponseError(f"invalid response: {path}: expected {expected}, got {shown}")


def _object(data: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _fail(path, "an object", data)
    return data


def _field(data: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in data:
        raise PhoenyraInvalidResponseError(f"invalid response: {path}.{key}: missing")
    return data[key]


def _str(data: Mapping[str, Any], key: str, path: str) -> str:
    value = _field(data, key, path)
    if not isinstance(value, str):
        raise _fail(f"{path}.{key}", "a string", value)
    return value


def _opt_str(data: Mapping[str, Any], key: str, path: str) -> str | None:
    return None if data.get(key) is None else _str(data, key, path)


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, "a finite number", value)
    return float(value)


def _num(data: Mapping[str, Any], key: str, path: str) -> float:
    return _number(_field(data, key, path), f"{path}.{key}")


def _opt_num(data: Mapping[str, Any], key: str, path: str) -> float | None:
    return None if data.get(key) is None else _num(data, key, path)


def _int(data: Mapping[str, Any], key: str, path: str) -> int:
    value = _field(data, key, path)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{path}.{key}", "an integer", value)
    return value


def _bool(data: Mapping[str, Any], key: str, path: str) -> bool:
    value = _field(data, key, path)
    if not isinstance(value, bool):
        raise _fail(f"{path}.{key}", "true or false", value)
    return value


def _parse_time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise _fail(path, "an ISO 8601 date-time", value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(path, "an ISO 8601 date-time", value) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)  # naive: UTC


def _time(data: Mapping[str, Any], key: str, path: str) -> datetime:
    return _parse_time(_field(data, key, path), f"{path}.{key}")


def _opt_time(data: Mapping[str, Any], key: str, path: str) -> datetime | None:
    return None if data.get(key) is None else _time(data, key, path)


def _enum(data: Mapping[str, Any], key: str, path: str, enum: type[_E]) -> _E:
    value = _field(data, key, path)
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise _fail(f"{path}.{key}", f"one of {choices}", value) from None


def _list(data: Mapping[str, Any], key: str, path: str, item: Callable[[Any, str], _T]) -> tuple[_T, ...]:
    value = _field(data, key, path)
    if not isinstance(value, list):
        raise _fail(f"{path}.{key}", "a list", value)
    return tuple(item(element, f"{path}.{key}[{i}]") for i, element in enumerate(value))


def _string_item(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, "a string", value)
    return value


# --- REST models ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Info:
    """``GET /info``: this installation and who the token belongs to."""

    instance_id: str  # stable per installation (Home Assistant's unique id)
    version: str
    user: str
    role: Role
    site_count: int  # sites this user may see

    @classmethod
    def from_dict(cls, data: Any, path: str = "info") -> Self:
        d = _object(data, path)
        return cls(
            instance_id=_str(d, "instance_id", path),
            version=_str(d, "version", path),
            user=_str(d, "user", path),
            role=_enum(d, "role", path, Role),
            site_count=_int(d, "site_count", path),
        )


@dataclass(frozen=True, slots=True)
class Location:
    city: str
    latitude: float | None
    longitude: float | None
    timezone: str  # IANA name

    @classmethod
    def from_dict(cls, data: Any, path: str = "location") -> Self:
        d = _object(data, path)
        return cls(
            city=_str(d, "city", path),
            latitude=_opt_num(d, "latitude", path),
            longitude=_opt_num(d, "longitude", path),
            timezone=_str(d, "timezone", path),
        )


@dataclass(frozen=True, slots=True)
class Bess:
    """The configured (hardware) battery of a site."""

    energy_capacity_kwh: float
    power_charge_max_kw: float
    power_discharge_max_kw: float
    soc_min_pct: float
    soc_max_pct: float

    @classmethod
    def from_dict(cls, data: Any, path: str = "bess") -> Self:
        d = _object(data, path)
        return cls(
            energy_capacity_kwh=_num(d, "energy_capacity_kwh", path),
            power_charge_max_kw=_num(d, "power_charge_max_kw", path),
            power_discharge_max_kw=_num(d, "power_discharge_max_kw", path),
            soc_min_pct=_num(d, "soc_min_pct", path),
            soc_max_pct=_num(d, "soc_max_pct", path),
        )


@dataclass(frozen=True, slots=True)
class Device:
    """The site's Modbus device: register-map profile and address."""

    profile: str
    host: str
    port: int

    @classmethod
    def from_dict(cls, data: Any, path: str = "device") -> Self:
        d = _object(data, path)
        return cls(profile=_str(d, "profile", path), host=_str(d, "host", path), port=_int(d, "port", path))


@dataclass(frozen=True, slots=True)
class Site:
    """One configured site (``GET /sites`` lists these)."""

    id: str
    name: str
    status: SiteStatus
    location: Location
    bess: Bess
    device: Device
    strategies: tuple[str, ...]  # strategies this site may use (names for ``set_control``)

    @classmethod
    def from_dict(cls, data: Any, path: str = "site") -> Self:
        d = _object(data, path)
        return cls(
            id=_str(d, "id", path),
            name=_str(d, "name", path),
            status=_enum(d, "status", path, SiteStatus),
            location=Location.from_dict(_field(d, "location", path), f"{path}.location"),
            bess=Bess.from_dict(_field(d, "bess", path), f"{path}.bess"),
            device=Device.from_dict(_field(d, "device", path), f"{path}.device"),
            strategies=_list(d, "strategies", path, _string_item),
        )


@dataclass(frozen=True, slots=True)
class Alarm:
    """An active condition an operator should see."""

    code: str
    message: str
    severity: AlarmSeverity
    since: datetime | None

    @classmethod
    def from_dict(cls, data: Any, path: str = "alarm") -> Self:
        d = _object(data, path)
        return cls(
            code=_str(d, "code", path),
            message=_str(d, "message", path),
            severity=_enum(d, "severity", path, AlarmSeverity),
            since=_opt_time(d, "since", path),
        )


@dataclass(frozen=True, slots=True)
class Sensor:
    """An edge sensor discovered on MQTT (ESPHome, Tasmota, Phoenyra's own format)."""

    id: str
    name: str
    value: float | None
    unit: str | None
    age_s: float | None
    available: bool
    site: str | None  # None: discovered, not assigned to a site
    role: str | None
    format: str

    @classmethod
    def from_dict(cls, data: Any, path: str = "sensor") -> Self:
        d = _object(data, path)
        return cls(
            id=_str(d, "id", path),
            name=_str(d, "name", path),
            value=_opt_num(d, "value", path),
            unit=_opt_str(d, "unit", path),
            age_s=_opt_num(d, "age_s", path),
            available=_bool(d, "available", path),
            site=_opt_str(d, "site", path),
            role=_opt_str(d, "role", path),
            format=_str(d, "format", path),
        )


def _number_item(value: Any, path: str) -> float:
    return _number(value, path)


@dataclass(frozen=True, slots=True)
class Forecast:
    """A site's latest load (and PV) forecast: one value per step from ``start``."""

    made_at: datetime
    start: datetime
    step_s: int
    load_kw: tuple[float, ...]
    pv_kw: tuple[float, ...] | None
    pv_source: str | None  # "weather" | "clear-sky fallback"

    @classmethod
    def from_dict(cls, data: Any, path: str = "forecast") -> Self:
        d = _object(data, path)
        pv = d.get("pv_kw")
        return cls(
            made_at=_time(d, "made_at", path),
            start=_time(d, "start", path),
            step_s=_int(d, "step_s", path),
            load_kw=_list(d, "load_kw", path, _number_item),
            pv_kw=None if pv is None else _list(d, "pv_kw", path, _number_item),
            pv_source=_opt_str(d, "pv_source", path),
        )


@dataclass(frozen=True, slots=True)
class SiteForecast:
    """``GET /sites/{id}/forecast``: whether the site forecasts, and its latest forecast if any."""

    site_id: str
    enabled: bool
    forecast: Forecast | None
    last_error: str | None

    @classmethod
    def from_dict(cls, data: Any, path: str = "forecast") -> Self:
        d = _object(data, path)
        latest = d.get("forecast")
        return cls(
            site_id=_str(d, "site_id", path),
            enabled=_bool(d, "enabled", path),
            forecast=None if latest is None else Forecast.from_dict(latest, f"{path}.forecast"),
            last_error=_opt_str(d, "last_error", path),
        )


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One step of a plan; ``soc_pct`` is the planned SoC at the END of the step."""

    start: datetime
    battery_kw: float  # + discharge / - charge
    grid_kw: float  # + import / - export
    soc_pct: float
    price_eur_mwh: float  # purchase price
    pv_kw: float  # forecast
    load_kw: float  # forecast

    @classmethod
    def from_dict(cls, data: Any, path: str = "step") -> Self:
        d = _object(data, path)
        return cls(
            start=_time(d, "start", path),
            battery_kw=_num(d, "battery_kw", path),
            grid_kw=_num(d, "grid_kw", path),
            soc_pct=_num(d, "soc_pct", path),
            price_eur_mwh=_num(d, "price_eur_mwh", path),
            pv_kw=_num(d, "pv_kw", path),
            load_kw=_num(d, "load_kw", path),
        )


@dataclass(frozen=True, slots=True)
class PlanSlack:
    """How far the plan had to leave a limit (0 when ``status`` is optimal)."""

    soc_kwh: float
    export_kw: float
    import_kw: float

    @classmethod
    def from_dict(cls, data: Any, path: str = "slack") -> Self:
        d = _object(data, path)
        return cls(
            soc_kwh=_num(d, "soc_kwh", path),
            export_kw=_num(d, "export_kw", path),
            import_kw=_num(d, "import_kw", path),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """The optimiser's plan: one step per ``step_s`` from ``start`` (docs/optimiser.md)."""

    start: datetime
    step_s: float
    status: PlanStatus
    message: str
    solve_ms: float
    source: str  # where the forecasts came from ("history baselines", ...)
    slack: PlanSlack
    steps: tuple[PlanStep, ...]
    reason: str | None  # what the plan does now, in words (None from daemons that do not say)

    @classmethod
    def from_dict(cls, data: Any, path: str = "plan") -> Self:
        d = _object(data, path)
        step_s = _num(d, "step_s", path)
        if step_s <= 0:
            raise _fail(f"{path}.step_s", "a positive number", step_s)
        return cls(
            start=_time(d, "start", path),
            step_s=step_s,
            status=_enum(d, "status", path, PlanStatus),
            message=_str(d, "message", path),
            solve_ms=_num(d, "solve_ms", path),
            source=_str(d, "source", path),
            slack=PlanSlack.from_dict(_field(d, "slack", path), f"{path}.slack"),
            steps=_list(d, "steps", path, PlanStep.from_dict),
            reason=_opt_str(d, "reason", path),
        )

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
class SitePlan:
    """``GET /sites/{id}/plan``: whether the site plans (``optimiser`` among its strategies), and
    its current plan (``None`` until the first one)."""

    site_id: str
    enabled: bool
    plan: Plan | None

    @classmethod
    def from_dict(cls, data: Any, path: str = "plan") -> Self:
        d = _object(data, path)
        current = _field(d, "plan", path)
        return cls(
            site_id=_str(d, "site_id", path),
            enabled=_bool(d, "enabled", path),
            plan=None if current is None else Plan.from_dict(current, f"{path}.plan"),
        )


@dataclass(frozen=True, slots=True)
class EnergyCounters:
    """A site's energy counters (kWh since ``since``), kept by the daemon across restarts; every
    counter only grows."""

    charged_kwh: float
    discharged_kwh: float
    imported_kwh: float
    exported_kwh: float
    since: datetime | None

    @classmethod
    def from_dict(cls, data: Any, path: str = "energy") -> Self:
        d = _object(data, path)
        return cls(
            charged_kwh=_num(d, "charged_kwh", path),
            discharged_kwh=_num(d, "discharged_kwh", path),
            imported_kwh=_num(d, "imported_kwh", path),
            exported_kwh=_num(d, "exported_kwh", path),
            since=_opt_time(d, "since", path),
        )


@dataclass(frozen=True, slots=True)
class AbAdvantage:
    """The A/B test's value: the AI days' mean minus the score days' mean, EUR per day, with its
    95 % bootstrap interval (None while an arm has no whole day), valued by counterfactual replay."""

    ai_days: int
    score_days: int
    eur_per_day: float | None
    ci_low_eur: float | None
    ci_high_eur: float | None
    paired_eur_per_day: float | None
    valued_at: datetime | None

    @classmethod
    def from_dict(cls, data: Any, path: str = "advantage") -> Self:
        d = _object(data, path)
        return cls(
            ai_days=_int(d, "ai_days", path),
            score_days=_int(d, "score_days", path),
            eur_per_day=_opt_num(d, "eur_per_day", path),
            ci_low_eur=_opt_num(d, "ci_low_eur", path),
            ci_high_eur=_opt_num(d, "ci_high_eur", path),
            paired_eur_per_day=_opt_num(d, "paired_eur_per_day", path),
            valued_at=_opt_time(d, "valued_at", path),
        )


@dataclass(frozen=True, slots=True)
class SelectorStatus:
    """``GET /sites/{id}/selector``: who chooses the strategy (score / AI / pinned) and the A/B tally."""

    site_id: str
    mode: str  # auto | score | ai | fixed
    ai_enabled: bool
    trained: bool
    trained_at: datetime | None
    samples: int
    strategy: str | None  # the current choice (None: the score-based selection decides)
    source: str | None  # ai | score | fixed; None before the first decision
    confidence: float | None
    feature_importances: dict[str, float]
    ab_tally: dict[str, dict[str, float]]
    ab_enabled: bool = False
    ab_advantage: AbAdvantage | None = None  # None until the daemon valued finished A/B days

    @classmethod
    def from_dict(cls, data: Any, path: str = "selector") -> Self:
        d = _object(data, path)
        current = d.get("current")
        cur = None if current is None else _object(current, f"{path}.current")
        importances = _object(d.get("feature_importances") or {}, f"{path}.feature_importances")
        ab = _object(d.get("ab_test") or {}, f"{path}.ab_test")
        tally = _object(ab.get("tally") or {}, f"{path}.ab_test.tally")
        return cls(
            site_id=_str(d, "site_id", path),
            mode=_str(d, "mode", path),
            ai_enabled=_bool(d, "ai_enabled", path),
            trained=_bool(d, "trained", path),
            trained_at=_opt_time(d, "trained_at", path),
            samples=_int(d, "samples", path),
            strategy=None if cur is None else _opt_str(cur, "strategy", f"{path}.current"),
            source=None if cur is None else _str(cur, "source", f"{path}.current"),
            confidence=None if cur is None else _opt_num(cur, "confidence", f"{path}.current"),
            feature_importances={
                str(k): _number(v, f"{path}.feature_importances.{k}") for k, v in importances.items()
            },
            ab_tally={
                str(arm): {
                    str(k): _number(v, f"{path}.ab_test.tally.{arm}.{k}")
                    for k, v in _object(values, f"{path}.ab_test.tally.{arm}").items()
                }
                for arm, values in tally.items()
            },
            ab_enabled=bool(ab.get("enabled", False)),
            ab_advantage=None
            if ab.get("advantage") is None
            else AbAdvantage.from_dict(ab["advantage"], f"{path}.ab_test.advantage"),
        )


@dataclass(frozen=True, slots=True)
class SiteState:
    """A site's live state (one control cycle)."""

    site_id: str
    timestamp: datetime
    soc: float  # %
    soh: float  # %
    temp_c: float | None
    p_bess: float  # kW, + discharge / - charge
    p_pv: float  # kW, >= 0
    p_load: float  # kW, >= 0
    p_grid: float  # kW, + import / - export
    price: float | None  # EUR/MWh, day-ahead price of the current interval
    setpoint: float  # kW, the setpoint last written (sign of p_bess)
    strategy: str | None
    strategy_reason: str
    mode: Mode
    status: SiteStatus
    alarms: tuple[Alarm, ...]
    last_reading: datetime | None
    last_write: datetime | None
    energy: EnergyCounters | None = None  # None from a daemon without counters (or not yet known)
    vpp: VppState | None = None  # the VPP block (client/vpp.py); None from older daemons / before a cycle

    @classmethod
    def from_dict(cls, data: Any, path: str = "state") -> Self:
        from phoenyra_ems.client.vpp import VppState

        d = _object(data, path)
        energy = d.get("energy")
        vpp = d.get("vpp")
        return cls(
            site_id=_str(d, "site_id", path),
            timestamp=_time(d, "timestamp", path),
            soc=_num(d, "soc", path),
            soh=_num(d, "soh", path),
            temp_c=_opt_num(d, "temp_c", path),
            p_bess=_num(d, "p_bess", path),
            p_pv=_num(d, "p_pv", path),
            p_load=_num(d, "p_load", path),
            p_grid=_num(d, "p_grid", path),
            price=_opt_num(d, "price", path),
            setpoint=_num(d, "setpoint", path),
            strategy=_opt_str(d, "strategy", path),
            strategy_reason=_str(d, "strategy_reason", path),
            mode=_enum(d, "mode", path, Mode),
            status=_enum(d, "status", path, SiteStatus),
            alarms=_list(d, "alarms", path, Alarm.from_dict),
            last_reading=_opt_time(d, "last_reading", path),
            last_write=_opt_time(d, "last_write", path),
            energy=None if energy is None else EnergyCounters.from_dict(energy, f"{path}.energy"),
            vpp=None if vpp is None else VppState.from_dict(vpp, f"{path}.vpp"),
        )


@dataclass(frozen=True, slots=True)
class Control:
    """What the operator asked for: mode, pinned strategy, manual setpoint and when it expires."""

    mode: Mode
    strategy: str | None  # None: score-based selection
    setpoint_kw: float | None  # manual mode only
    expires: datetime | None  # manual mode only

    @classmethod
    def from_dict(cls, data: Any, path: str = "control") -> Self:
        d = _object(data, path)
        return cls(
            mode=_enum(d, "mode", path, Mode),
            strategy=_opt_str(d, "strategy", path),
            setpoint_kw=_opt_num(d, "setpoint_kw", path),
            expires=_opt_time(d, "expires", path),
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """Operator limits (``None``: not set) inside the configured hardware limits."""

    soc_min_pct: float
    soc_max_pct: float
    soc_reserve_pct: float | None
    power_charge_max_kw: float | None
    power_discharge_max_kw: float | None
    hardware_power_charge_max_kw: float
    hardware_power_discharge_max_kw: float

    @classmethod
    def from_dict(cls, data: Any, path: str = "limits") -> Self:
        d = _object(data, path)
        return cls(
            soc_min_pct=_num(d, "soc_min_pct", path),
            soc_max_pct=_num(d, "soc_max_pct", path),
            soc_reserve_pct=_opt_num(d, "soc_reserve_pct", path),
            power_charge_max_kw=_opt_num(d, "power_charge_max_kw", path),
            power_discharge_max_kw=_opt_num(d, "power_discharge_max_kw", path),
            hardware_power_charge_max_kw=_num(d, "hardware_power_charge_max_kw", path),
            hardware_power_discharge_max_kw=_num(d, "hardware_power_discharge_max_kw", path),
        )


@dataclass(frozen=True, slots=True)
class SiteDetail:
    """``GET /sites/{id}``: the site, its state, and (when its controller runs) control and limits."""

    site: Site
    state: SiteState
    control: Control | None  # None while the site's controller is not running
    limits: Limits | None

    @classmethod
    def from_dict(cls, data: Any, path: str = "site") -> Self:
        d = _object(data, path)
        control = d.get("control")
        limits = d.get("limits")
        return cls(
            site=Site.from_dict(d, path),
            state=SiteState.from_dict(_field(d, "state", path), f"{path}.state"),
            control=None if control is None else Control.from_dict(control, f"{path}.control"),
            limits=None if limits is None else Limits.from_dict(limits, f"{path}.limits"),
        )


@dataclass(frozen=True, slots=True)
class ControlAck:
    """The answer to ``set_control``: the control as the daemon will apply it."""

    site_id: str
    accepted: bool
    control: Control

    @classmethod
    def from_dict(cls, data: Any, path: str = "ack") -> Self:
        d = _object(data, path)
        return cls(
            site_id=_str(d, "site_id", path),
            accepted=_bool(d, "accepted", path),
            control=Control.from_dict(_field(d, "control", path), f"{path}.control"),
        )


@dataclass(frozen=True, slots=True)
class AggregatedState:
    """``GET /sites/aggregated`` (admins): sums over all sites with a reading."""

    site_count: int
    total_capacity_kwh: float
    soc_avg_pct: float | None  # capacity-weighted; None when no site has a reading
    p_bess: float
    p_pv: float
    p_load: float
    p_grid: float
    sites: tuple[SiteState, ...]

    @classmethod
    def from_dict(cls, data: Any, path: str = "aggregated") -> Self:
        d = _object(data, path)
        return cls(
            site_count=_int(d, "site_count", path),
            total_capacity_kwh=_num(d, "total_capacity_kwh", path),
            soc_avg_pct=_opt_num(d, "soc_avg_pct", path),
            p_bess=_num(d, "p_bess", path),
            p_pv=_num(d, "p_pv", path),
            p_load=_num(d, "p_load", path),
            p_grid=_num(d, "p_grid", path),
            sites=_list(d, "sites", path, SiteState.from_dict),
        )


@dataclass(frozen=True, slots=True)
class HistorySample:
    """One recorded cycle, or the average over one ``step`` bucket (strategy/mode/status: the max)."""

    timestamp: datetime
    soc: float
    soh: float
    temp_c: float | None
    p_bess: float
    p_pv: float
    p_load: float
    p_grid: float
    price: float | None
    setpoint: float
    strategy: str | None
    mode: Mode
    status: SiteStatus

    @classmethod
    def from_dict(cls, data: Any, path: str = "sample") -> Self:
        d = _object(data, path)
        return cls(
            timestamp=_time(d, "timestamp", path),
            soc=_num(d, "soc", path),
            soh=_num(d, "soh", path),
            temp_c=_opt_num(d, "temp_c", path),
            p_bess=_num(d, "p_bess", path),
            p_pv=_num(d, "p_pv", path),
            p_load=_num(d, "p_load", path),
            p_grid=_num(d, "p_grid", path),
            price=_opt_num(d, "price", path),
            setpoint=_num(d, "setpoint", path),
            strategy=_opt_str(d, "strategy", path),
            mode=_enum(d, "mode", path, Mode),
            status=_enum(d, "status", path, SiteStatus),
        )


@dataclass(frozen=True, slots=True)
class History:
    """``GET /sites/{id}/history``: samples with ``start <= timestamp < end``."""

    site_id: str
    start: datetime
    end: datetime
    step_s: float | None  # bucket width; None: every recorded cycle
    samples: tuple[HistorySample, ...]

    @classmethod
    def from_dict(cls, data: Any, path: str = "history") -> Self:
        d = _object(data, path)
        return cls(
            site_id=_str(d, "site_id", path),
            start=_time(d, "from", path),
            end=_time(d, "to", path),
            step_s=_opt_num(d, "step", path),
            samples=_list(d, "samples", path, HistorySample.from_dict),
        )


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """``POST /reload`` (admins): what changed, or why the configuration file was refused."""

    reloaded: bool
    errors: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    reloaded_sites: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "reload") -> Self:
        d = _object(data, path)

        def names(key: str) -> tuple[str, ...]:
            return _list(d, key, path, _string_item) if key in d else ()

        return cls(
            reloaded=_bool(d, "reloaded", path),
            errors=names("errors"),
            added=names("added"),
            removed=names("removed"),
            reloaded_sites=names("reloaded_sites"),
            unchanged=names("unchanged"),
        )


# --- WebSocket events -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SubscribedEvent:
    """The sites this connection is subscribed to now (after a subscribe)."""

    sites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnsubscribedEvent:
    """The sites just unsubscribed."""

    sites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StateEvent:
    """A site's latest state (pushes are coalesced: at most ``api.ws_max_rate_hz`` per site)."""

    site_id: str
    state: SiteState


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """An alarm was raised (``active``) or cleared."""

    site_id: str
    alarm: Alarm
    active: bool


@dataclass(frozen=True, slots=True)
class ControlAckEvent:
    """Someone's control request for a subscribed site was accepted."""

    site_id: str
    control: Control
    by: str  # the user who sent it


@dataclass(frozen=True, slots=True)
class PlanEvent:
    """The site's optimiser made a new plan (the same shape as ``GET /sites/{id}/plan``)."""

    site_id: str
    plan: SitePlan


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """The server refused a message of ours (the connection stays open)."""

    code: str  # invalid_message, not_found, forbidden
    message: str


Event = (
    SubscribedEvent | UnsubscribedEvent | StateEvent | AlarmEvent | ControlAckEvent | PlanEvent | ErrorEvent
)


def parse_event(data: Any) -> Event | None:
    """A decoded WebSocket frame → its event; ``None`` for an unknown type (forward compatible).

    Raises :class:`PhoenyraInvalidResponseError` for a known type with a wrong shape.
    """
    d = _object(data, "event")
    kind = d.get("type")
    path = f"event[{kind}]"
    if kind == "state":
        return StateEvent(
            _str(d, "site_id", path), SiteState.from_dict(_field(d, "data", path), f"{path}.data")
        )
    if kind == "alarm":
        return AlarmEvent(
            _str(d, "site_id", path),
            Alarm.from_dict(_field(d, "alarm", path), f"{path}.alarm"),
            _bool(d, "active", path),
        )
    if kind == "control_ack":
        return ControlAckEvent(
            _str(d, "site_id", path),
            Control.from_dict(_field(d, "control", path), f"{path}.control"),
            _str(d, "by", path),
        )
    if kind == "plan":
        return PlanEvent(
            _str(d, "site_id", path), SitePlan.from_dict(_field(d, "data", path), f"{path}.data")
        )
    if kind == "subscribed":
        return SubscribedEvent(_list(d, "sites", path, _string_item))
    if kind == "unsubscribed":
        return UnsubscribedEvent(_list(d, "sites", path, _string_item))
    if kind == "error":
        return ErrorEvent(_str(d, "code", path), _str(d, "message", path))
    if not isinstance(kind, str):
        raise _fail(f"{path}.type", "a string", kind)
    return None
