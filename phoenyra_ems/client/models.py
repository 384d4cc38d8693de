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

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from phoenyra_ems.client.vpp import VppState
from phoenyra_ems.client.wire import KW, KWH, PCT, PRICE, Wire, spec
from phoenyra_ems.enums import AlarmSeverity, SiteMode, SiteStatus

__all__ = [
    "AggregatedState",
    "Alarm",
    "AlarmSeverity",
    "Bess",
    "Control",
    "ControlAck",
    "Device",
    "EnergyCounters",
    "History",
    "HistorySample",
    "Info",
    "Limits",
    "Location",
    "Mode",
    "ReloadResult",
    "Role",
    "Sensor",
    "Site",
    "SiteDetail",
    "SiteState",
    "SiteStatus",
]

Mode = SiteMode  # how a site's setpoint is decided (the daemon's own enum, shared)


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
